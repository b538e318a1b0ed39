"""Object storage: the port, and adapters for a local directory and S3.

Import the adapters from their modules (``local``, ``s3``); the S3 one needs aioboto3.
"""

from __future__ import annotations

from app.adapters.object_store.port import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    StorageAccessDenied,
    StorageUnavailable,
    normalize_prefix,
    validate_key,
)
from app.adapters.object_store.uri import ObjectUri, parse_object_uri

__all__ = [
    "InvalidKey",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "ObjectUri",
    "StorageAccessDenied",
    "StorageUnavailable",
    "normalize_prefix",
    "parse_object_uri",
    "validate_key",
]
