"""The S3 adapter's errors: a missing bucket, refused credentials, an unreachable endpoint,
and the translation of error codes moto cannot produce."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from app.adapters.object_store._s3_errors import storage_error
from app.adapters.object_store.port import (
    ObjectNotFound,
    ObjectStoreError,
    StorageAccessDenied,
    StorageUnavailable,
)
from app.adapters.object_store.s3 import S3ObjectStore
from tests.integration.s3_server import S3Server

WRONG_SECRET = "wrong-secret-never-printed"
WHERE = "s3://bucket/prefix at http://127.0.0.1:9"


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_missing_bucket_is_unavailable(s3_server: S3Server) -> None:
    with pytest.raises(StorageUnavailable, match=r"s3://no-such-bucket .*does not exist"):
        await s3_server.open_store("no-such-bucket")
    async with await s3_server.open_store("no-such-bucket", check_bucket=False) as store:
        with pytest.raises(StorageUnavailable, match="does not exist"):
            await store.list()
        with pytest.raises(StorageUnavailable, match="does not exist"):
            await store.put("k", one(b"x"))
        with pytest.raises(StorageUnavailable, match="does not exist"):
            await anext(store.get("k"))


async def test_refused_credentials_are_access_denied_without_the_secret(
    s3_server: S3Server, s3_bucket: str
) -> None:
    wrong = {"access_key_id": "AKIAWRONGKEY", "secret_access_key": WRONG_SECRET}
    errors: list[BaseException] = []
    async with s3_server.enforce_credentials():
        with pytest.raises(StorageAccessDenied, match=r"denied .*check the access key") as caught:
            await s3_server.open_store(s3_bucket, **wrong)
        errors.append(caught.value)
        async with await s3_server.open_store(s3_bucket, check_bucket=False, **wrong) as store:
            with pytest.raises(StorageAccessDenied, match="InvalidAccessKeyId") as caught:
                await store.list()
            errors.append(caught.value)
            with pytest.raises(StorageAccessDenied) as caught:
                await store.put("k", one(b"x"))
            errors.append(caught.value)
    for error in errors:
        assert s3_bucket in str(error)
        assert WRONG_SECRET not in f"{error} {error.__cause__!r} {error.__cause__}"


async def test_an_unreachable_endpoint_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StorageUnavailable, match="cannot reach"):
        await S3ObjectStore.open(
            "bucket",
            endpoint_url=f"http://127.0.0.1:{port}",
            access_key_id="k",
            secret_access_key="s",
            max_attempts=1,
        )


async def test_an_endpoint_with_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="must not hold credentials") as caught:
        await S3ObjectStore.open("bucket", endpoint_url=f"http://user:{WRONG_SECRET}@minio:9000")
    assert WRONG_SECRET not in str(caught.value)


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "msg"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


@pytest.mark.parametrize(
    ("error", "key", "expected", "words"),
    [
        (client_error("NoSuchKey", 404), "k", ObjectNotFound, "'k'"),
        (client_error("404", 404), "k", ObjectNotFound, "'k'"),
        (client_error("NoSuchBucket", 404), "k", StorageUnavailable, "does not exist"),
        (client_error("AccessDenied", 403), None, StorageAccessDenied, "check the access key"),
        (client_error("SignatureDoesNotMatch", 403), None, StorageAccessDenied, "denied"),
        (client_error("ExpiredToken", 400), None, StorageAccessDenied, "ExpiredToken"),
        (client_error("403", 403), "k", StorageAccessDenied, "denied"),
        (client_error("PermanentRedirect", 301), None, StorageUnavailable, "region"),
        (client_error("SlowDown", 503), None, StorageUnavailable, "try again"),
        (client_error("InternalError", 500), None, StorageUnavailable, "try again"),
        (client_error("InvalidArgument", 400), None, ObjectStoreError, "(InvalidArgument): msg"),
        (NoCredentialsError(), None, StorageAccessDenied, "no usable S3 credentials"),
        (EndpointConnectionError(endpoint_url="http://x"), None, StorageUnavailable, "reach"),
    ],
)
def test_error_translation(
    error: Exception, key: str | None, expected: type[ObjectStoreError], words: str
) -> None:
    translated = storage_error(error, WHERE, key)
    assert type(translated) is expected
    assert words in str(translated)
    if expected is not ObjectNotFound:
        assert WHERE in str(translated)
