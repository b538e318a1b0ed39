"""Multipart uploads and copies for the S3 store: parts sent from one buffer without
copies, uploads aborted on failure, large copies done part by part on the server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
from typing import TYPE_CHECKING

from app.adapters.object_store.port import ObjectStoreError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's minimum for every part but the last
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10_000
COPY_CONCURRENCY = 4


def part_size_for(base: int, part_number: int) -> int:
    """Parts grow every 1000 so that 10,000 parts reach 55x the base part size (440 GiB
    with 8 MiB parts) while memory stays bounded by the current part."""
    if part_number > MAX_PARTS:
        raise ObjectStoreError(f"object too large: S3 allows at most {MAX_PARTS} parts")
    return min(base * (1 + (part_number - 1) // 1000), MAX_PART_SIZE)


async def put_single(
    client: S3Client, bucket: str, key: str, data: bytearray, sha256: hashlib._Hash
) -> str:
    """PUT a whole (small) object; returns its ETag."""
    md5 = await asyncio.to_thread(_digest, sha256, data)
    with io.BufferedReader(_PartReader(data)) as body:
        response = await client.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=md5)
    return response["ETag"]


class MultipartUpload:
    """An upload into ``key``, started by its first part."""

    def __init__(self, client: S3Client, bucket: str, key: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._upload_id: str | None = None
        self.parts: list[CompletedPartTypeDef] = []

    @property
    def started(self) -> bool:
        return self._upload_id is not None

    async def add_part(self, data: bytearray, sha256: hashlib._Hash) -> None:
        if self._upload_id is None:
            created = await self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
            self._upload_id = created["UploadId"]
        number = len(self.parts) + 1
        md5 = await asyncio.to_thread(_digest, sha256, data)
        with io.BufferedReader(_PartReader(data)) as body:
            response = await self._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,
                ContentMD5=md5,
            )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    async def complete(self) -> str:
        assert self._upload_id is not None
        done = await self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self.parts},
        )
        return done["ETag"]

    async def abort(self) -> None:
        if self._upload_id is None:
            return
        # Shielded so that a second cancellation cannot leave the parts behind.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )
            )


async def multipart_copy(
    client: S3Client, bucket: str, src: str, dst: str, size: int, part_size: int
) -> str:
    """Copy ``src`` to ``dst`` in parts of ``part_size``, on the server; returns the ETag."""
    created = await client.create_multipart_upload(Bucket=bucket, Key=dst)
    upload_id = created["UploadId"]
    limit = asyncio.Semaphore(COPY_CONCURRENCY)

    async def copy_part(number: int, start: int) -> CompletedPartTypeDef:
        end = min(start + part_size, size) - 1
        async with limit:
            response = await client.upload_part_copy(
                Bucket=bucket,
                Key=dst,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": bucket, "Key": src},
                CopySourceRange=f"bytes={start}-{end}",
            )
        return {"PartNumber": number, "ETag": response["CopyPartResult"].get("ETag", "")}

    try:
        starts = range(0, size, part_size)
        parts = await asyncio.gather(*(copy_part(n, s) for n, s in enumerate(starts, 1)))
        done = await client.complete_multipart_upload(
            Bucket=bucket, Key=dst, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(
                client.abort_multipart_upload(Bucket=bucket, Key=dst, UploadId=upload_id)
            )
        raise
    return done["ETag"]


class _PartReader(io.RawIOBase):
    """A seekable file over a part's buffer: botocore turns bytes bodies into files
    anyway, and ``bytes(buffer)`` or ``BytesIO(buffer)`` would hold the part twice.
    Wrapped in a BufferedReader to be the ``BinaryIO`` botocore expects."""

    def __init__(self, data: bytearray) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        out = memoryview(buffer).cast("B")
        n = min(len(out), len(self._view) - self._pos)
        out[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._view.release()
        super().close()


def _digest(sha256: hashlib._Hash, data: bytearray) -> str:
    """Feed ``data`` to the running sha256 and return its Content-MD5; on a worker thread
    since hashlib releases the GIL for large buffers."""
    sha256.update(data)
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
