"""Blocking file helpers for the local object store; they run on worker threads.

Each open file is guarded by a lock so that closing or discarding it waits for a read or
write still running on another thread (a cancelled task does not stop its thread).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import threading
from pathlib import Path

from app.adapters.object_store.port import InvalidKey, ObjectNotFound

# Names of files being written; list() skips them and keys may not use the prefix.
TEMP_PREFIX = ".~tmp-"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class ReadFile:
    def __init__(self, path: Path, key: str) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ObjectNotFound(key)
        self._fd: int | None = fd
        self._lock = threading.Lock()

    def read(self, size: int) -> bytes:
        with self._lock:
            return os.read(self._fd, size) if self._fd is not None else b""

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class AtomicFile:
    """A temp file next to ``target`` that replaces ``target`` on commit, hashing what is
    written."""

    def __init__(self, target: Path, key: str) -> None:
        self._target = target
        self._key = key
        self._lock = threading.Lock()
        self._hash = hashlib.sha256()
        self.size = 0
        self._tmp = target.parent / f"{TEMP_PREFIX}{secrets.token_hex(12)}"
        self._fd: int | None = None
        for attempt in range(3):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(
                    self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666
                )
                break
            except (FileExistsError, NotADirectoryError):
                raise self._conflict() from None
            except FileNotFoundError:
                # A concurrent delete pruned the directory between mkdir and open.
                if attempt == 2:
                    raise

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._fd is None:
                raise RuntimeError("write after commit or discard")
            self._hash.update(data)
            self.size += len(data)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]

    def copy_from(self, source: ReadFile, block: int) -> None:
        while data := source.read(block):
            self.write(data)

    def commit(self) -> None:
        with self._lock:
            if self._fd is None:
                raise RuntimeError("commit after commit or discard")
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.replace(self._tmp, self._target)
            except (IsADirectoryError, NotADirectoryError):
                self._tmp.unlink(missing_ok=True)
                raise self._conflict() from None
            except BaseException:
                self._tmp.unlink(missing_ok=True)
                raise
            _fsync_dir(self._target.parent)

    def discard(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._tmp.unlink(missing_ok=True)

    def _conflict(self) -> InvalidKey:
        return InvalidKey(
            f"object key {self._key!r} conflicts with an existing key: in the local store "
            "a key cannot also be the directory of other keys"
        )


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; some platforms cannot open directories, which is fine.
    try:
        fd = os.open(directory, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def prune_empty_dirs(directory: Path, root: Path) -> None:
    """Remove ``directory`` and its parents below ``root`` while they are empty."""
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
