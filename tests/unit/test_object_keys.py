"""Object keys, prefixes and storage URIs: what is allowed and what is refused."""

from __future__ import annotations

import re

import pytest

from app.adapters.object_store.port import (
    InvalidKey,
    ObjectStoreError,
    check_expiry,
    normalize_prefix,
    validate_key,
)
from app.adapters.object_store.uri import ObjectUri, parse_object_uri, validate_bucket_name


@pytest.mark.parametrize(
    "key",
    [
        "model.onnx",
        "models/resnet/3/model.onnx",
        "a/b c/d-e_f.g",
        ".hidden/..dots../x.",
        "模型/ünï.bin",
        "x" * 255,
        "/".join(["y" * 255] * 4),  # 1023 bytes
        "é" * 127,  # 254 bytes in a segment
    ],
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("/abs", "relative"),
        ("../x", "'..'"),
        ("a/../b", "'..'"),
        ("a/..", "'..'"),
        ("./a", "'.'"),
        ("a//b", "empty path segment"),
        ("a/", "empty path segment"),
        ("a\\b", "'\\\\'"),
        ("a\x00b", "'\\x00'"),
        ("a\nb", "'\\n'"),
        ("a\x7fb", "'\\x7f'"),
        ("a\x85b", "'\\x85'"),
        ("a#b", "'#'"),
        ("a?b", "'?'"),
        ("x" * 256, "longer than 255 bytes"),
        ("é" * 128, "longer than 255 bytes"),
        ("/".join(["y" * 255] * 5), "longer than 1024 bytes"),
        ("k" * 4096, "longer than 1024 bytes"),
        ("a\udcffb", "not valid UTF-8"),
    ],
)
def test_invalid_keys(key: str, reason: str) -> None:
    with pytest.raises(InvalidKey, match=re.escape(reason)) as caught:
        validate_key(key)
    assert isinstance(caught.value, ObjectStoreError)
    assert isinstance(caught.value, ValueError)
    assert len(str(caught.value)) < 200  # long keys are cut in messages


def test_non_string_keys_are_invalid() -> None:
    with pytest.raises(InvalidKey, match="string"):
        validate_key(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prefix", "normalized"),
    [("", ""), ("a", "a/"), ("a/", "a/"), ("a/b", "a/b/"), ("a/b/", "a/b/")],
)
def test_prefixes_are_directories(prefix: str, normalized: str) -> None:
    assert normalize_prefix(prefix) == normalized


@pytest.mark.parametrize("prefix", ["/", "//", "a//", "../a", "/a", "a/../b"])
def test_invalid_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidKey):
        normalize_prefix(prefix)


def test_presign_expiry_is_bounded() -> None:
    assert check_expiry(1) == 1
    assert check_expiry(7 * 24 * 3600) == 7 * 24 * 3600
    for bad in (0, -5, 7 * 24 * 3600 + 1):
        with pytest.raises(ValueError, match="expires_seconds"):
            check_expiry(bad)


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("s3://bucket", ObjectUri("s3", "bucket", "")),
        ("s3://bucket/", ObjectUri("s3", "bucket", "")),
        ("s3://my.bucket-1/models", ObjectUri("s3", "my.bucket-1", "models")),
        ("s3://bucket/models/resnet/", ObjectUri("s3", "bucket", "models/resnet")),
        ("S3://bucket/a b/模型.onnx", ObjectUri("s3", "bucket", "a b/模型.onnx")),
        ("cos://examplebucket-1250000000/m/1", ObjectUri("cos", "examplebucket-1250000000", "m/1")),
        ("s3://bucket/a%2F..", ObjectUri("s3", "bucket", "a%2F..")),  # taken literally
    ],
)
def test_parse_object_uri(uri: str, parsed: ObjectUri) -> None:
    assert parse_object_uri(uri) == parsed
    assert parse_object_uri(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("file:///tmp/models", "must start with s3:// or cos://"),
        ("http://bucket/models", "must start with s3:// or cos://"),
        ("https://s3.amazonaws.com/bucket", "must start with s3:// or cos://"),
        ("gs://bucket/models", "must start with s3:// or cos://"),
        ("bucket/models", "must start with s3:// or cos://"),
        ("/abs/path", "must start with s3:// or cos://"),
        ("s3:/bucket", "must start with s3:// or cos://"),
        ("s3://", "no bucket"),
        ("s3:///models", "no bucket"),
        ("s3://bucket/../etc", "'..'"),
        ("s3://bucket/a/../../b", "'..'"),
        ("s3://bucket//models", "relative"),
        ("s3://bucket/a\\b", "forbidden character"),
        ("s3://bucket/models?versionId=1", "query"),
        ("s3://bucket/models#frag", "fragment"),
        ("s3://key:secret@bucket/models", "credentials"),
        ("s3://bucket:9000/models", "port"),
        ("s3://Bucket/models", "lowercase"),
        ("s3://my_bucket/models", "lowercase"),
        ("s3://ab/models", "3 to 63"),
        ("s3://" + "b" * 64, "3 to 63"),
        ("s3://-bucket", "begin and end"),
        ("s3://bucket-/x", "begin and end"),
        ("s3://my..bucket", "'..'"),
        ("s3://my.-bucket", "'..'"),
        ("s3://192.168.1.1/models", "IP address"),
        ("s3://xn--bucket", "reserves"),
        ("s3://bucket-s3alias", "reserves"),
    ],
)
def test_parse_object_uri_refuses(uri: str, reason: str) -> None:
    with pytest.raises(InvalidKey, match=re.escape(reason)):
        parse_object_uri(uri)


def test_bucket_names() -> None:
    assert validate_bucket_name("abc") == "abc"
    assert validate_bucket_name("a" * 63) == "a" * 63
    with pytest.raises(ValueError, match="bucket name"):
        validate_bucket_name("UPPER")
