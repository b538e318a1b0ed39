"""The object storage port: where model files live.

Keys are relative POSIX paths (``models/resnet/3/model.onnx``) checked by
:func:`validate_key` before any adapter touches storage. A *prefix* names a directory:
``"models/resnet"`` and ``"models/resnet/"`` both mean every key under ``models/resnet/``
(never ``models/resnet50/…``), and ``""`` means the whole store.

Stores do not keep checksums: ``put`` computes the size and sha256 while streaming and the
caller records them (the version manifest). ``head`` and ``list`` return ``sha256=None``;
``copy`` returns it only when the backend computed it (the local store does, S3 does not).
"""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Self

MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
DEFAULT_CHUNK_SIZE = 1024 * 1024
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the S3 limit for SigV4 presigned URLs
_FORBIDDEN_CHARS = frozenset("\\#?")


class ObjectStoreError(Exception):
    """Base class of every error an object store raises."""


class ObjectNotFound(ObjectStoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no object at key {key!r}")
        self.key = key


class InvalidKey(ObjectStoreError, ValueError):
    """A key, prefix or storage URI that is not allowed. Nothing was touched."""


class StorageUnavailable(ObjectStoreError):
    """The storage cannot be used: endpoint unreachable, bucket missing, server error."""


class StorageAccessDenied(ObjectStoreError):
    """The storage refused the credentials or the operation."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str | None = None
    etag: str | None = None
    last_modified: datetime | None = None


def validate_key(key: str) -> str:
    """Return ``key`` when it is an allowed object key, else raise :class:`InvalidKey`.

    Allowed: a relative POSIX path of non-empty segments, none ``.`` or ``..``; no
    backslash, ``#``, ``?``, NUL or other control characters; segments of at most 255
    bytes and keys of at most 1024 bytes in UTF-8."""
    if not isinstance(key, str):
        raise InvalidKey(f"object key must be a string, not {type(key).__name__}")
    shown = _shown(key)
    if not key:
        raise InvalidKey("object key must not be empty")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKey(f"object key {shown} is not valid UTF-8") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidKey(f"object key {shown} is longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("/"):
        raise InvalidKey(f"object key {shown} must be relative, not start with '/'")
    for char in key:
        if char in _FORBIDDEN_CHARS or unicodedata.category(char) == "Cc":
            raise InvalidKey(f"object key {shown} contains the forbidden character {char!r}")
    for segment in key.split("/"):
        if segment in (".", ".."):
            raise InvalidKey(f"object key {shown} has a {segment!r} path segment")
        if not segment:
            raise InvalidKey(f"object key {shown} has an empty path segment ('//' or end '/')")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidKey(
                f"object key {shown} has a path segment longer than {MAX_SEGMENT_BYTES} bytes"
            )
    return key


def normalize_prefix(prefix: str) -> str:
    """``""`` for the whole store, else the validated directory prefix ending in ``/``."""
    if prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise InvalidKey(f"prefix must be a string, not {type(prefix).__name__}")
    trimmed = prefix[:-1] if prefix.endswith("/") else prefix
    if not trimmed:
        raise InvalidKey("prefix '/' is not allowed; use '' for the whole store")
    return validate_key(trimmed) + "/"


def check_expiry(expires_seconds: int) -> int:
    if not 1 <= expires_seconds <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_seconds must be between 1 and {MAX_PRESIGN_SECONDS}")
    return expires_seconds


def _shown(key: str) -> str:
    # Keys can be huge or hold control characters; error messages stay one short line.
    return repr(key if len(key) <= 80 else key[:60] + "…")


class ObjectStore(ABC):
    """Async object storage. Every method validates its keys first and raises
    :class:`InvalidKey` without touching storage when one is not allowed; storage
    problems raise :class:`StorageUnavailable` or :class:`StorageAccessDenied`."""

    @property
    @abstractmethod
    def uri(self) -> str:
        """Where the objects live, e.g. ``s3://bucket/prefix`` or ``file:///abs/dir``;
        never contains credentials."""

    @abstractmethod
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> ObjectInfo:
        """Stream ``chunks`` into ``key``, replacing any object there, and return its size
        and sha256. Memory use does not grow with the object. The object appears whole or
        not at all: when ``chunks`` raises or the task is cancelled, nothing is left."""

    @abstractmethod
    def get(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Stream the object's bytes in non-empty chunks of at most ``chunk_size``.

        The key is checked on the call; :class:`ObjectNotFound` comes from the first
        iteration, before any bytes. Close the iterator (``aclose``) when stopping early."""

    @abstractmethod
    async def head(self, key: str) -> ObjectInfo | None:
        """The object's size (sha256 None), or None when there is no object at ``key``.

        On S3 a missing bucket also reads as None here (HEAD has no error body); the
        store checks the bucket when it opens, and every other method reports it."""

    @abstractmethod
    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object under ``prefix`` (see the module doc), sorted by key; keys are
        relative to the store's root. Pagination is internal."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object at ``key``; removing a missing object is not an error."""

    @abstractmethod
    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix`` (which must not be empty) and return how
        many were removed."""

    @abstractmethod
    async def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        """Copy an object within this store (server-side where the backend can), replacing
        any object at ``dst_key``; atomic like ``put``. Raises :class:`ObjectNotFound`."""

    @abstractmethod
    async def presigned_get_url(self, key: str, expires_seconds: int = 3600) -> str | None:
        """A URL anyone can GET the object from until it expires, or None when the backend
        cannot make one (the local store). Does not check that the object exists."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections; the store is unusable afterwards. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
