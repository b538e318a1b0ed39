"""The object store in a local directory: the embedded default.

Every blocking file operation runs on a worker thread. The store never follows symbolic
links: a key whose path passes through one is refused with :class:`InvalidKey`, and
``list`` skips links. Keys may not be both an object and the directory of other objects
(``a`` and ``a/b``), which S3 allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import stat
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

from app.adapters.object_store._local_files import (
    TEMP_PREFIX,
    AtomicFile,
    ReadFile,
    prune_empty_dirs,
)
from app.adapters.object_store.port import (
    DEFAULT_CHUNK_SIZE,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    StorageAccessDenied,
    StorageUnavailable,
    check_expiry,
    normalize_prefix,
    validate_key,
)
from app.files import close_file, close_now, finish, open_resource

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F")

# Chunks are gathered up to this size before a thread writes them, to keep hops few.
WRITE_BATCH = 1024 * 1024


class LocalObjectStore(ObjectStore):
    def __init__(self, root: Path) -> None:
        # Resolved once, so a root that is itself reached through a link still works.
        self._root = Path(root).expanduser().resolve()

    @property
    def uri(self) -> str:
        return self._root.as_uri()

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self._root)!r})"

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> ObjectInfo:
        self._check(key)
        file = await self._open(functools.partial(self._create, key), AtomicFile.discard)
        try:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_BATCH:
                    await self._io(file.write, b"".join(pending))
                    pending.clear()
                    pending_size = 0
            if pending:
                await self._io(file.write, b"".join(pending))
            await self._io(file.commit)
        except BaseException:
            with contextlib.suppress(Exception):
                await finish(file.discard)
            raise
        return ObjectInfo(key=key, size=file.size, sha256=file.sha256)

    def get(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        self._check(key)
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        return self._read(key, chunk_size)

    async def _read(self, key: str, chunk_size: int) -> AsyncIterator[bytes]:
        path = await self._io(self._locate, key)
        file = await self._open(functools.partial(ReadFile, path, key), close_now)
        try:
            while chunk := await self._io(file.read, chunk_size):
                yield chunk
        finally:
            await close_file(file)

    async def head(self, key: str) -> ObjectInfo | None:
        self._check(key)
        return await self._io(self._head, key)

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        directory = normalize_prefix(prefix)
        return [*await self._io(self._list, directory)]

    async def delete(self, key: str) -> None:
        self._check(key)
        await self._io(self._delete, key)

    async def delete_prefix(self, prefix: str) -> int:
        directory = normalize_prefix(prefix)
        if not directory:
            raise InvalidKey("delete_prefix needs a non-empty prefix")
        return await self._io(self._delete_prefix, directory)

    async def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        self._check(src_key)
        self._check(dst_key)
        if src_key == dst_key:
            info = await self.head(src_key)
            if info is None:
                raise ObjectNotFound(src_key)
            return info
        return await self._io(self._copy, src_key, dst_key)

    async def presigned_get_url(self, key: str, expires_seconds: int = 3600) -> str | None:
        self._check(key)
        check_expiry(expires_seconds)
        return None

    async def close(self) -> None:
        return None

    # -- helpers; the underscore methods below run on worker threads --------------------

    def _check(self, key: str) -> None:
        validate_key(key)
        if any(segment.startswith(TEMP_PREFIX) for segment in key.split("/")):
            raise InvalidKey(
                f"object key {key!r}: path segments starting with {TEMP_PREFIX!r} are "
                "reserved by the local store"
            )

    async def _io(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self._mapped_errors():
            return await asyncio.to_thread(func, *args, **kwargs)

    async def _open(self, opener: Callable[[], F], release: Callable[[F], None]) -> F:
        """Like ``_io(opener)``; a cancelled caller's file is released, not leaked."""
        with self._mapped_errors():
            return await open_resource(opener, release)

    @contextlib.contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        try:
            yield
        except ObjectStoreError:
            raise
        except PermissionError as exc:
            raise StorageAccessDenied(
                f"permission denied in the local store {self._root}: {exc.strerror}"
            ) from exc
        except OSError as exc:
            raise StorageUnavailable(
                f"the local store {self._root} failed: {exc.strerror or exc}"
            ) from exc

    def _locate(self, key: str) -> Path:
        path = self._root.joinpath(key)
        try:
            linked = path.resolve() != path
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            linked = True
        if linked:
            raise InvalidKey(
                f"object key {key!r} passes through a symbolic link; the local store does "
                "not follow links"
            )
        return path

    def _create(self, key: str) -> AtomicFile:
        return AtomicFile(self._locate(key), key)

    def _head(self, key: str) -> ObjectInfo | None:
        try:
            st = self._locate(key).lstat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _info(key, st) if stat.S_ISREG(st.st_mode) else None

    def _list(self, directory: str) -> Sequence[ObjectInfo]:
        base = self._locate(directory.rstrip("/")) if directory else self._root
        found = [_info(key, st) for key, st in _walk(base, directory)]
        return sorted(found, key=lambda info: info.key)

    def _delete(self, key: str) -> None:
        path = self._locate(key)
        try:
            if stat.S_ISDIR(path.lstat().st_mode):
                return
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        prune_empty_dirs(path.parent, self._root)

    def _delete_prefix(self, directory: str) -> int:
        base = self._locate(directory.rstrip("/"))
        removed = 0
        for key, _ in list(_walk(base, directory)):
            try:
                self._root.joinpath(key).unlink()
            except FileNotFoundError:
                continue
            removed += 1
        for dirpath, _, _ in os.walk(base, topdown=False):
            prune_empty_dirs(Path(dirpath), base)
        prune_empty_dirs(base, self._root)
        return removed

    def _copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        source = ReadFile(self._locate(src_key), src_key)
        try:
            target = self._create(dst_key)
            try:
                target.copy_from(source, WRITE_BATCH)
                target.commit()
            except BaseException:
                target.discard()
                raise
        finally:
            source.close()
        return ObjectInfo(key=dst_key, size=target.size, sha256=target.sha256)


def _walk(directory: Path, key_prefix: str) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files under ``directory`` as (key, stat), skipping links, temp files and
    names that are not valid keys."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        key = key_prefix + entry.name
        if entry.is_symlink() or entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            validate_key(key)
        except InvalidKey:
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), key + "/")
        elif entry.is_file(follow_symlinks=False):
            try:
                yield key, entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue


def _info(key: str, st: os.stat_result) -> ObjectInfo:
    modified = datetime.fromtimestamp(st.st_mtime, UTC)
    return ObjectInfo(key=key, size=st.st_size, sha256=None, last_modified=modified)
