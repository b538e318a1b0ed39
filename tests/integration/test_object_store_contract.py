"""The object store contract: one abstract test case, run against every adapter.

A subclass provides two fixtures: ``store`` (an open, empty store) and ``leftovers`` (a
function listing what a failed write could have left behind: temp files, multipart
uploads). The S3 adapter runs against moto's S3 server over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path

import httpx
import pytest

from app.adapters.object_store._local_files import TEMP_PREFIX
from app.adapters.object_store.local import LocalObjectStore
from app.adapters.object_store.port import InvalidKey, ObjectNotFound, ObjectStore
from app.adapters.object_store.s3 import MIN_PART_SIZE, S3ObjectStore
from tests.integration.s3_server import S3Server

MIB = 1024 * 1024
Leftovers = Callable[[], Awaitable[list[str]]]


class Boom(Exception):
    pass


async def chunked(
    data: bytes, sizes: Iterable[int] = (1, 65_536, 1_000_003)
) -> AsyncIterator[bytes]:
    """``data`` in chunks of irregular sizes, cycling through ``sizes``."""
    sizes = list(sizes)
    pos = i = 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        yield data[pos : pos + size]
        pos += size
        i += 1


async def failing(data: bytes, fail_after: int) -> AsyncIterator[bytes]:
    async for chunk in chunked(data[:fail_after]):
        yield chunk
    raise Boom("the upload source broke")


async def read_all(store: ObjectStore, key: str, chunk_size: int = 256 * 1024) -> bytes:
    parts = []
    async for chunk in store.get(key, chunk_size=chunk_size):
        assert 0 < len(chunk) <= chunk_size
        parts.append(chunk)
    return b"".join(parts)


class ObjectStoreContract:
    presigns = False

    @pytest.mark.parametrize("size", [0, 1, 3 * MIB + 17, 2 * MIN_PART_SIZE])
    async def test_put_get_round_trip(self, store: ObjectStore, size: int) -> None:
        data = os.urandom(size)
        info = await store.put("models/m/1/weights.bin", chunked(data))
        assert (info.key, info.size) == ("models/m/1/weights.bin", size)
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert await read_all(store, "models/m/1/weights.bin") == data
        head = await store.head("models/m/1/weights.bin")
        assert head is not None and head.size == size

    async def test_large_put_streams_in_bounded_memory(self, store: ObjectStore) -> None:
        size, chunk = 64 * MIB, 256 * 1024
        base = os.urandom(chunk)
        expected = hashlib.sha256()

        async def lazily() -> AsyncIterator[bytes]:
            for i in range(size // chunk):
                block = i.to_bytes(4, "big") + base[4:]
                expected.update(block)
                yield block

        tracemalloc.start()
        try:
            info = await store.put("big.bin", lazily())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (info.size, info.sha256) == (size, expected.hexdigest())
        assert peak < size / 4, f"peak {peak / MIB:.1f} MiB for a {size // MIB} MiB object"
        streamed = hashlib.sha256()
        async for part in store.get("big.bin"):
            streamed.update(part)
        assert streamed.hexdigest() == expected.hexdigest()

    @pytest.mark.parametrize("fail_after", [MIB, 2 * MIN_PART_SIZE + MIB])
    async def test_failed_put_leaves_nothing_and_keeps_the_old_object(
        self, store: ObjectStore, leftovers: Leftovers, fail_after: int
    ) -> None:
        await store.put("kept.bin", chunked(b"old"))
        data = os.urandom(fail_after)
        for key in ("new.bin", "kept.bin"):
            with pytest.raises(Boom):
                await store.put(key, failing(data, fail_after))
        assert await store.head("new.bin") is None
        assert await read_all(store, "kept.bin") == b"old"
        assert [i.key for i in await store.list()] == ["kept.bin"]
        assert await leftovers() == []

    async def test_cancelled_put_leaves_nothing(
        self, store: ObjectStore, leftovers: Leftovers
    ) -> None:
        sent_enough = asyncio.Event()

        async def stalls() -> AsyncIterator[bytes]:
            yield os.urandom(MIN_PART_SIZE + MIB)
            yield b"x"
            sent_enough.set()
            await asyncio.Event().wait()
            yield b"never"

        task = asyncio.create_task(store.put("cancelled.bin", stalls()))
        await sent_enough.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await store.head("cancelled.bin") is None
        assert await leftovers() == []

    async def test_missing_objects(self, store: ObjectStore) -> None:
        assert await store.head("missing.bin") is None
        with pytest.raises(ObjectNotFound):
            await read_all(store, "missing.bin")
        with pytest.raises(ObjectNotFound):
            await store.copy("missing.bin", "other.bin")
        await store.delete("missing.bin")  # not an error

    async def test_put_replaces_and_stopping_a_get_early_is_fine(self, store: ObjectStore) -> None:
        await store.put("a.bin", chunked(b"first"))
        await store.put("a.bin", chunked(os.urandom(3 * MIB)))
        stream = store.get("a.bin", chunk_size=1024)
        assert len(await anext(stream)) <= 1024
        await stream.aclose()  # releases the file or the HTTP connection
        assert (await store.head("a.bin")).size == 3 * MIB  # type: ignore[union-attr]

    async def test_list_treats_prefixes_as_directories(self, store: ObjectStore) -> None:
        keys = ["a/b/1", "a/b/2", "a/bc/3", "a/x", "top", "ünï cødé/模型.bin"]
        for key in reversed(keys):
            await store.put(key, chunked(key.encode()))
        listed = await store.list()
        assert [i.key for i in listed] == sorted(keys)
        assert all(i.size == len(i.key.encode()) for i in listed)
        assert [i.key for i in await store.list("a/b")] == ["a/b/1", "a/b/2"]
        assert [i.key for i in await store.list("a/b/")] == ["a/b/1", "a/b/2"]
        assert await store.list("a/b/1") == []
        assert await store.list("nothing") == []
        assert await read_all(store, "ünï cødé/模型.bin") == "ünï cødé/模型.bin".encode()

    async def test_delete_and_delete_prefix(self, store: ObjectStore) -> None:
        for key in ["v1/a", "v1/sub/b", "v10/c", "v2/d"]:
            await store.put(key, chunked(b"x"))
        await store.delete("v2/d")
        assert await store.head("v2/d") is None
        assert await store.delete_prefix("v1") == 2
        assert [i.key for i in await store.list()] == ["v10/c"]
        assert await store.delete_prefix("v1/") == 0
        with pytest.raises(InvalidKey):
            await store.delete_prefix("")

    async def test_copy(self, store: ObjectStore) -> None:
        data = os.urandom(MIB + 3)
        await store.put("src/model.onnx", chunked(data))
        await store.put("dst/model.onnx", chunked(b"to be replaced"))
        info = await store.copy("src/model.onnx", "dst/model.onnx")
        assert (info.key, info.size) == ("dst/model.onnx", len(data))
        assert await read_all(store, "dst/model.onnx") == data
        assert await read_all(store, "src/model.onnx") == data
        assert (await store.copy("src/model.onnx", "src/model.onnx")).size == len(data)

    async def test_list_and_delete_more_than_a_page_of_keys(self, store: ObjectStore) -> None:
        keys = [f"many/{i:05d}" for i in range(1005)]
        limit = asyncio.Semaphore(32)

        async def put(key: str) -> None:
            async with limit:
                await store.put(key, chunked(b"k"))

        await asyncio.gather(*(put(key) for key in keys))
        assert [i.key for i in await store.list("many")] == keys
        assert await store.delete_prefix("many") == len(keys)
        assert await store.list() == []

    async def test_presigned_get_url(self, store: ObjectStore) -> None:
        data = os.urandom(100_000)
        await store.put("shared/ünï file.bin", chunked(data))
        url = await store.presigned_get_url("shared/ünï file.bin", expires_seconds=60)
        if not self.presigns:
            assert url is None
            return
        assert url is not None
        async with httpx.AsyncClient() as http:
            response = await http.get(url)
        assert response.status_code == 200
        assert response.content == data

    @pytest.mark.parametrize(
        "key", ["../x", "/abs", "a\\b", "a\x00b", "a#b", "a?b", "a//b", "a/./b", "k" * 4096, ""]
    )
    async def test_invalid_keys_touch_nothing(self, store: ObjectStore, key: str) -> None:
        consumed = False

        async def source() -> AsyncIterator[bytes]:
            nonlocal consumed
            consumed = True
            yield b"data"

        await store.put("ok", chunked(b"ok"))
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.put(key, source()),
            lambda: read_all(store, key),
            lambda: store.head(key),
            lambda: store.delete(key),
            lambda: store.copy("ok", key),
            lambda: store.copy(key, "ok"),
            lambda: store.presigned_get_url(key),
        ]
        if key:  # "" is the whole store for list and delete_prefix
            calls += [lambda: store.list(key), lambda: store.delete_prefix(key)]
        for call in calls:
            with pytest.raises(InvalidKey):
                await call()
        assert not consumed
        assert [i.key for i in await store.list()] == ["ok"]


class TestLocalObjectStore(ObjectStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> LocalObjectStore:
        return LocalObjectStore(tmp_path / "store")

    @pytest.fixture
    def leftovers(self, tmp_path: Path) -> Leftovers:
        async def temp_files() -> list[str]:
            found = await asyncio.to_thread(lambda: list(tmp_path.rglob(f"{TEMP_PREFIX}*")))
            return [str(p) for p in found]

        return temp_files

    def test_uri(self, store: LocalObjectStore, tmp_path: Path) -> None:
        assert store.uri == (tmp_path / "store").resolve().as_uri()

    async def test_never_follows_symbolic_links(
        self, store: LocalObjectStore, tmp_path: Path
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "secret").write_bytes(b"secret")
        await store.put("real/file", chunked(b"x"))
        (store.root / "link").symlink_to(outside, target_is_directory=True)
        (store.root / "real" / "filelink").symlink_to(outside / "secret")
        for key in ("link/secret", "link/new", "real/filelink"):
            with pytest.raises(InvalidKey, match="symbolic link"):
                await store.put(key, chunked(b"overwrite"))
            with pytest.raises(InvalidKey, match="symbolic link"):
                await read_all(store, key)
            with pytest.raises(InvalidKey, match="symbolic link"):
                await store.delete(key)
        with pytest.raises(InvalidKey):
            await store.list("link")
        assert [i.key for i in await store.list()] == ["real/file"]
        assert sorted(p.name for p in outside.iterdir()) == ["secret"]
        assert (outside / "secret").read_bytes() == b"secret"

    async def test_a_key_cannot_also_be_a_directory(self, store: LocalObjectStore) -> None:
        await store.put("a/b", chunked(b"x"))
        with pytest.raises(InvalidKey, match="conflicts"):
            await store.put("a", chunked(b"y"))
        with pytest.raises(InvalidKey, match="conflicts"):
            await store.put("a/b/c", chunked(b"y"))
        with pytest.raises(InvalidKey, match="reserved"):
            await store.put(f"a/{TEMP_PREFIX}x", chunked(b"y"))
        assert [i.key for i in await store.list()] == ["a/b"]

    async def test_deleting_removes_empty_directories(self, store: LocalObjectStore) -> None:
        await store.put("x/y/z", chunked(b"1"))
        await store.delete("x/y/z")
        await store.put("p/q/r", chunked(b"1"))
        await store.delete_prefix("p")
        assert list(store.root.iterdir()) == []


class TestS3ObjectStore(ObjectStoreContract):
    presigns = True

    @pytest.fixture
    async def store(self, s3_server: S3Server, s3_bucket: str) -> AsyncIterator[S3ObjectStore]:
        store = await s3_server.open_store(s3_bucket, "root/prefix", part_size=MIN_PART_SIZE)
        async with store:
            yield store

    @pytest.fixture
    def leftovers(self, s3_server: S3Server, s3_bucket: str) -> Leftovers:
        async def multipart_uploads() -> list[str]:
            async with s3_server.client() as client:
                response = await client.list_multipart_uploads(Bucket=s3_bucket)
            return [upload["Key"] for upload in response.get("Uploads", [])]

        return multipart_uploads

    async def test_keys_are_relative_to_the_prefix(
        self, store: S3ObjectStore, s3_server: S3Server, s3_bucket: str
    ) -> None:
        assert store.uri == f"s3://{s3_bucket}/root/prefix"
        async with s3_server.client() as client:
            await client.put_object(Bucket=s3_bucket, Key="root/prefixed-sibling/x", Body=b"1")
            await client.put_object(Bucket=s3_bucket, Key="root/prefix/dir/", Body=b"")
        await store.put("dir/a", chunked(b"a"))
        assert [i.key for i in await store.list()] == ["dir/a"]
        assert await store.delete_prefix("dir") == 2  # the folder marker goes too
        async with s3_server.client() as client:
            listed = await client.list_objects_v2(Bucket=s3_bucket)
        assert [o["Key"] for o in listed["Contents"]] == ["root/prefixed-sibling/x"]

    async def test_large_copy_uses_multipart_copy(
        self, s3_server: S3Server, s3_bucket: str
    ) -> None:
        data = os.urandom(2 * MIN_PART_SIZE + 123)
        store = await s3_server.open_store(s3_bucket, copy_part_size=MIN_PART_SIZE)
        async with store:
            await store.put("big", chunked(data))
            assert (await store.copy("big", "copy")).size == len(data)
            assert await read_all(store, "copy") == data
            # A multipart upload's ETag ends in the part count.
            assert (await store.head("copy")).etag.endswith("-3")  # type: ignore[union-attr]
