"""The raw aioboto3 peer of the file benchmark, on the same S3 endpoint as modelrepo.

The client is configured like modelrepo's S3 adapter (path style, SigV4, checksums only
where required) and parts are 8 MiB like the adapter's, so the difference between the two
is what modelrepo does on top of moving the bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from _files_procs import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

if TYPE_CHECKING:
    import aioboto3
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef, ObjectIdentifierTypeDef

MIB = 1024 * 1024
PART_SIZE = 8 * MIB  # modelrepo's DEFAULT_PART_SIZE
READ_CHUNK = MIB  # modelrepo's DEFAULT_CHUNK_SIZE


@asynccontextmanager
async def raw_client(session: aioboto3.Session, endpoint_url: str) -> AsyncIterator[S3Client]:
    from aiobotocore.config import AioConfig

    config = AioConfig(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    async with session.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=config,
    ) as client:
        yield client


async def multipart_put(
    client: S3Client, bucket: str, key: str, chunks: AsyncIterable[bytes]
) -> int:
    """Stream ``chunks`` into ``key`` in PART_SIZE parts (one PUT when it fits in one);
    returns the number of bytes. The plain way, no hashing."""
    upload_id: str | None = None
    parts: list[CompletedPartTypeDef] = []
    buffer = bytearray()
    size = 0

    async def send(data: bytes) -> None:
        nonlocal upload_id
        if upload_id is None:
            created = await client.create_multipart_upload(Bucket=bucket, Key=key)
            upload_id = created["UploadId"]
        number = len(parts) + 1
        response = await client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        parts.append({"PartNumber": number, "ETag": response["ETag"]})

    try:
        async for chunk in chunks:
            buffer += chunk
            size += len(chunk)
            if len(buffer) >= PART_SIZE:
                await send(bytes(buffer))
                buffer = bytearray()
        if upload_id is None:
            await client.put_object(Bucket=bucket, Key=key, Body=bytes(buffer))
            return size
        if buffer:
            await send(bytes(buffer))
        await client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        if upload_id is not None:
            await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return size


async def read_object(client: S3Client, bucket: str, key: str) -> AsyncIterator[bytes]:
    response = await client.get_object(Bucket=bucket, Key=key)
    body = response["Body"]
    async with body:
        while chunk := await body.read(READ_CHUNK):
            yield chunk


async def read_file(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, READ_CHUNK):
            yield chunk
    finally:
        handle.close()


async def streamed_copy(
    client: S3Client, bucket: str, keys: list[str], dst_bucket: str, dst_prefix: str
) -> int:
    """GET each object and stream it into a multipart upload at ``dst_prefix`` + its
    name: a copy that passes the bytes through the client. Returns the bytes copied."""
    total = 0
    for key in keys:
        name = key.rsplit("/", 1)[-1]
        chunks = read_object(client, bucket, key)
        total += await multipart_put(client, dst_bucket, f"{dst_prefix}/{name}", chunks)
    return total


async def server_copy(
    client: S3Client, bucket: str, keys: list[str], dst_bucket: str, dst_prefix: str
) -> None:
    """CopyObject on the server (no bytes through the client), for reference."""
    for key in keys:
        name = key.rsplit("/", 1)[-1]
        await client.copy_object(
            Bucket=dst_bucket, Key=f"{dst_prefix}/{name}", CopySource={"Bucket": bucket, "Key": key}
        )


async def delete_prefix(client: S3Client, bucket: str, prefix: str) -> None:
    listed = await client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    keys: list[ObjectIdentifierTypeDef] = [
        {"Key": obj["Key"]} for obj in listed.get("Contents", [])
    ]
    if keys:
        await client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
