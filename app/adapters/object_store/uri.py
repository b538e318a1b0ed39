"""Object storage URIs: ``s3://bucket/prefix`` and ``cos://bucket/prefix``.

Tencent COS speaks the S3 protocol, so both name a bucket behind an S3 endpoint. The path
is taken literally (no percent-decoding, as the AWS CLI does) and checked like a key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.adapters.object_store.port import InvalidKey, normalize_prefix

SCHEMES = ("s3", "cos")
_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_RESERVED_STARTS = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_ENDS = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


@dataclass(frozen=True, slots=True)
class ObjectUri:
    scheme: str
    bucket: str
    prefix: str  # "" for the whole bucket, else a valid key without a trailing "/"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}".rstrip("/")


def validate_bucket_name(name: str) -> str:
    """Return ``name`` when it follows the S3 bucket naming rules, else raise InvalidKey."""
    problem = None
    if not 3 <= len(name) <= 63:
        problem = "must be 3 to 63 characters long"
    elif not _BUCKET_CHARS.fullmatch(name):
        problem = (
            "may hold only lowercase letters, digits, '.' and '-', and must begin and end "
            "with a letter or digit"
        )
    elif ".." in name or ".-" in name or "-." in name:
        problem = "must not hold '..', '.-' or '-.'"
    elif _IP_ADDRESS.fullmatch(name):
        problem = "must not look like an IP address"
    elif name.startswith(_RESERVED_STARTS) or name.endswith(_RESERVED_ENDS):
        problem = "uses a prefix or suffix that S3 reserves"
    if problem:
        raise InvalidKey(f"bucket name {name[:70]!r} {problem}")
    return name


def parse_object_uri(uri: str) -> ObjectUri:
    """Parse ``s3://bucket/prefix`` or ``cos://bucket/prefix``; raise :class:`InvalidKey`
    (a ValueError) with the reason for anything else."""
    shown = repr(uri if len(uri) <= 100 else uri[:80] + "…")
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise InvalidKey(f"storage URI {shown} must start with s3:// or cos://")
    if "?" in rest or "#" in rest:
        raise InvalidKey(f"storage URI {shown} must not have a query ('?') or fragment ('#')")
    bucket, _, path = rest.partition("/")
    if not bucket:
        raise InvalidKey(f"storage URI {shown} has no bucket name")
    if "@" in bucket or ":" in bucket:
        raise InvalidKey(
            f"storage URI {shown} must not hold credentials or a port; configure the "
            "endpoint and credentials separately"
        )
    validate_bucket_name(bucket)
    try:
        prefix = normalize_prefix(path)
    except InvalidKey as exc:
        raise InvalidKey(f"storage URI {shown} has an invalid path: {exc}") from None
    return ObjectUri(scheme=scheme.lower(), bucket=bucket, prefix=prefix.rstrip("/"))
