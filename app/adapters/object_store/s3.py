"""The object store in an S3 bucket through aioboto3: AWS S3, MinIO, Tencent COS.

Create it with ``await S3ObjectStore.open(...)``; nothing connects at import time. Puts
buffer one part at a time: a single PUT when the object fits in one part, else a multipart
upload that is aborted when the chunks fail or the task is cancelled.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from app.adapters.object_store._s3_errors import TRANSLATED, storage_error
from app.adapters.object_store._s3_multipart import (
    MAX_PART_SIZE,
    MIB,
    MIN_PART_SIZE,
    MultipartUpload,
    multipart_copy,
    part_size_for,
    put_single,
)
from app.adapters.object_store.port import (
    DEFAULT_CHUNK_SIZE,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    check_expiry,
    normalize_prefix,
    validate_key,
)
from app.adapters.object_store.uri import ObjectUri, parse_object_uri, validate_bucket_name

if TYPE_CHECKING:
    import aioboto3
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import ObjectTypeDef

__all__ = [
    "DEFAULT_PART_SIZE",
    "MIN_PART_SIZE",
    "ObjectUri",
    "S3ObjectStore",
    "parse_object_uri",
]

DEFAULT_PART_SIZE = 8 * MIB
DEFAULT_COPY_PART_SIZE = 256 * MIB
DELETE_BATCH = 1000  # DeleteObjects' limit


class S3ObjectStore(ObjectStore):
    def __init__(
        self,
        client: S3Client,
        stack: AsyncExitStack,
        *,
        bucket: str,
        prefix: str,
        where: str,
        part_size: int,
        copy_part_size: int,
    ) -> None:
        """Use :meth:`open`."""
        self._client = client
        self._stack = stack
        self._bucket = bucket
        self._prefix = prefix
        self._where = where
        self._part_size = part_size
        self._copy_part_size = copy_part_size

    @classmethod
    async def open(
        cls,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        path_style: bool = True,
        part_size: int = DEFAULT_PART_SIZE,
        copy_part_size: int = DEFAULT_COPY_PART_SIZE,
        check_bucket: bool = True,
        max_attempts: int = 3,
        session: aioboto3.Session | None = None,
    ) -> S3ObjectStore:
        """Connect to ``bucket`` and, unless ``check_bucket`` is false, check that it
        exists and the credentials work. Credentials left out come from botocore's usual
        chain (environment, config files, instance role). ``path_style`` addresses the
        bucket as ``endpoint/bucket/key`` (MinIO needs it); turn it off for
        ``bucket.endpoint`` addressing. Pass a ``session`` to share botocore's loaded
        service data between stores (each new session loads it again)."""
        validate_bucket_name(bucket)
        root = normalize_prefix(prefix)
        for name, size in (("part_size", part_size), ("copy_part_size", copy_part_size)):
            if not MIN_PART_SIZE <= size <= MAX_PART_SIZE:
                raise ValueError(f"{name} must be between 5 MiB and 5 GiB")
        where = f"s3://{bucket}/{root}".rstrip("/")
        if endpoint_url is not None:
            where += f" at {_check_endpoint(endpoint_url)}"
        # Imported here: botocore is slow to import and only S3 setups need it.
        import aioboto3
        from aiobotocore.config import AioConfig

        config = AioConfig(
            s3={"addressing_style": "path" if path_style else "virtual"},
            signature_version="s3v4",
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
            # botocore >= 1.36 adds CRC checksums to every upload by default, which
            # several S3-compatible services reject; send them only where S3 demands.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            (session or aioboto3.Session()).client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region or "us-east-1",
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                aws_session_token=session_token,
                config=config,
            )
        )
        store = cls(
            client,
            stack,
            bucket=bucket,
            prefix=root,
            where=where,
            part_size=part_size,
            copy_part_size=copy_part_size,
        )
        if check_bucket:
            try:
                with store._translate():
                    await client.head_bucket(Bucket=bucket)
            except BaseException:
                await stack.aclose()
                raise
        return store

    @property
    def uri(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}".rstrip("/")

    def __repr__(self) -> str:
        return f"S3ObjectStore({self._where!r})"

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> ObjectInfo:
        full = self._full_key(key)
        sha256 = hashlib.sha256()
        size = 0
        # One growing buffer, sent as is: joining chunks would hold the part twice.
        data = bytearray()
        upload = MultipartUpload(self._client, self._bucket, full)
        try:
            async for chunk in chunks:
                data += chunk
                if len(data) < part_size_for(self._part_size, len(upload.parts) + 1):
                    continue
                size += len(data)
                with self._translate(key):
                    await upload.add_part(data, sha256)
                data = bytearray()
            size += len(data)
            with self._translate(key):
                if not upload.started:
                    etag = await put_single(self._client, self._bucket, full, data, sha256)
                else:
                    if data:
                        await upload.add_part(data, sha256)
                    etag = await upload.complete()
        except BaseException:
            await upload.abort()
            raise
        return ObjectInfo(key=key, size=size, sha256=sha256.hexdigest(), etag=etag.strip('"'))

    def get(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        full = self._full_key(key)
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        return self._read(key, full, chunk_size)

    async def _read(self, key: str, full: str, chunk_size: int) -> AsyncIterator[bytes]:
        with self._translate(key):
            response = await self._client.get_object(Bucket=self._bucket, Key=full)
            body = response["Body"]
            async with body:
                while chunk := await body.read(chunk_size):
                    yield chunk

    async def head(self, key: str) -> ObjectInfo | None:
        full = self._full_key(key)
        try:
            with self._translate(key):
                response = await self._client.head_object(Bucket=self._bucket, Key=full)
        except ObjectNotFound:
            return None
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response["ETag"].strip('"'),
            last_modified=response["LastModified"],
        )

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        infos = [
            ObjectInfo(
                key=obj["Key"][len(self._prefix) :],
                size=obj["Size"],
                etag=obj["ETag"].strip('"'),
                last_modified=obj["LastModified"],
            )
            async for obj in self._objects(normalize_prefix(prefix))
            if not obj["Key"].endswith("/")  # "folder" markers made by web consoles
        ]
        return sorted(infos, key=lambda info: info.key)

    async def delete(self, key: str) -> None:
        full = self._full_key(key)
        with self._translate():
            await self._client.delete_object(Bucket=self._bucket, Key=full)

    async def delete_prefix(self, prefix: str) -> int:
        directory = normalize_prefix(prefix)
        if not directory:
            raise InvalidKey("delete_prefix needs a non-empty prefix")
        # Listed first: deleting while paging could shift pages on some servers.
        keys = [obj["Key"] async for obj in self._objects(directory)]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            with self._translate():
                response = await self._client.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            if errors := response.get("Errors"):
                first = errors[0]
                raise ObjectStoreError(
                    f"{self._where} could not delete {len(errors)} objects, e.g. "
                    f"{first.get('Key', '')!r} ({first.get('Code', '')})"
                )
        return len(keys)

    async def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        src, dst = self._full_key(src_key), self._full_key(dst_key)
        info = await self.head(src_key)
        if info is None:
            raise ObjectNotFound(src_key)
        if src_key == dst_key:
            return info
        with self._translate(src_key):
            if info.size <= self._copy_part_size:
                response = await self._client.copy_object(
                    Bucket=self._bucket, Key=dst, CopySource={"Bucket": self._bucket, "Key": src}
                )
                etag = response["CopyObjectResult"].get("ETag", "")
            else:
                etag = await multipart_copy(
                    self._client, self._bucket, src, dst, info.size, self._copy_part_size
                )
        return ObjectInfo(key=dst_key, size=info.size, etag=etag.strip('"'))

    async def presigned_get_url(self, key: str, expires_seconds: int = 3600) -> str | None:
        full = self._full_key(key)
        check_expiry(expires_seconds)
        with self._translate():
            return await self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": full},
                ExpiresIn=expires_seconds,
            )

    async def close(self) -> None:
        await self._stack.aclose()

    # -- helpers -------------------------------------------------------------------------

    def _full_key(self, key: str) -> str:
        return self._prefix + validate_key(key)

    @contextlib.contextmanager
    def _translate(self, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except TRANSLATED as exc:
            raise storage_error(exc, self._where, key) from exc

    async def _objects(self, directory: str) -> AsyncIterator[ObjectTypeDef]:
        paginator = self._client.get_paginator("list_objects_v2")
        with self._translate():
            async for page in paginator.paginate(
                Bucket=self._bucket, Prefix=self._prefix + directory
            ):
                for obj in page.get("Contents", []):
                    yield obj


def _check_endpoint(endpoint_url: str) -> str:
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"S3 endpoint {endpoint_url!r} must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError("the S3 endpoint URL must not hold credentials; pass them separately")
    return endpoint_url
