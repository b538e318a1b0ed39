"""Local copies of version packages, keyed by content: the sha256 of the manifest.

Two file sets with the same files share one copy. Only the server writes a copy: it is
downloaded under a temporary name (every file's sha256 checked on the way in), sealed
read-only (files 0o444, folders 0o555) and renamed into place whole. Runtimes, and the
user code they run, only read it.

Each time a copy is handed out for a load (not on every predict) it is checked against the
manifest on a worker thread: every file's size, sha256 and mode, and no file, folder or link
the manifest does not list (an added ``sitecustomize.py`` or ``.pth`` is a difference too).
A copy that differs is logged (its key and the paths that differ), counted in
``mismatches``, moved aside, deleted and fetched again.

Hashing is what the check costs: 100 to 180 ms per 100 MB on the 2-core test machine
(``bench/model_cache.py``; sha256 alone is ~70 ms of it), so seconds for a model of several
GB. So that reloading a big model does not pay it every time, a file hashed before is not
hashed again while its (device, inode, size, mtime, ctime, mode) is unchanged. The ctime
carries the guarantee: the kernel sets it to the current time on every write, truncate,
chmod, utime or rename, and no system call sets it to a chosen value (only setting the
clock back would, which needs CAP_SYS_TIME); mtime alone would not do, ``os.utime`` puts it
back. A stamp is kept only for a file whose ctime was already a second old when hashing
began (git's "racily clean" rule), because a rewrite within one clock tick of the last
change can keep the ctime. Stamps live in this process only: a new process hashes
everything once.

One ModelCache per process (``bootstrap.build`` makes it); processes sharing a data
directory may fetch the same package at once: both download, the first rename wins, and
the other checks the winner's copy and uses it. Downloads and discarded copies left by a
crashed process are deleted by a later process's first fetch, once nothing in them changed
for an hour.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from app.adapters.object_store.port import ObjectStore
from app.files import close_file, open_file
from app.serving._cache_files import (
    Check,
    ManifestEntry,
    Stamp,
    check,
    remove,
    seal,
    sweep,
    writable_copy,
)

__all__ = ["CorruptPackage", "ManifestEntry", "ModelCache", "content_key", "writable_copy"]

log = logging.getLogger("modelrepo.serving")

STAGING = ".tmp-"
DISCARDED = ".bad-"
STALE_SECONDS = 3600.0
# Rounds of check, discard and download before giving up (each needs another process to
# have replaced the copy meanwhile).
ROUNDS = 3
LOGGED_DIFFERENCES = 20


class CorruptPackage(Exception):
    pass


def content_key(files: Sequence[ManifestEntry]) -> str:
    manifest = "\n".join(f"{f.path}\0{f.sha256}" for f in sorted(files, key=lambda f: f.path))
    return hashlib.sha256(manifest.encode()).hexdigest()


class ModelCache:
    def __init__(self, root: Path, storage: ObjectStore) -> None:
        self.root = root
        self.storage = storage
        # Copies found to differ from their manifest since this process started.
        self.mismatches = 0
        self._locks: dict[str, asyncio.Lock] = {}
        # Per cache key: stamps of the files hashed intact (see the module docstring).
        self._hashed: dict[str, dict[str, Stamp]] = {}
        self._swept = False

    async def fetch(self, prefix: str, files: Sequence[ManifestEntry]) -> Path:
        """The local folder holding these files, checked against them; downloaded when
        missing or different."""
        if not self._swept:
            self._swept = True
            await asyncio.to_thread(self._sweep)
        key = content_key(files)
        target = self.root / key
        async with self._locks.setdefault(key, asyncio.Lock()):
            for _ in range(ROUNDS):
                if await self._intact(key, target, files):
                    return target
                if await self._download_into(prefix, files, key, target):
                    return target
        raise CorruptPackage("the cached copy kept changing while it was fetched")

    async def _intact(self, key: str, target: Path, files: Sequence[ManifestEntry]) -> bool:
        """Whether the copy at ``target`` matches the manifest; one that differs is discarded."""
        hashed = self._hashed.setdefault(key, {})
        found: Check = await asyncio.to_thread(check, target, files, hashed)
        if not found.differences:
            return True
        if found.inode is None:  # nothing there yet
            return False
        self.mismatches += 1
        self._hashed.pop(key, None)
        shown = found.differences[:LOGGED_DIFFERENCES]
        more = len(found.differences) - len(shown)
        log.warning(
            "model cache entry %s differs from its manifest, fetching it again: %s%s",
            key,
            "; ".join(shown),
            f" (and {more} more)" if more > 0 else "",
        )
        await asyncio.to_thread(self._discard, key, target, found.inode)
        return False

    def _discard(self, key: str, target: Path, inode: tuple[int, int]) -> None:
        aside = self.root / f"{DISCARDED}{key}-{uuid.uuid4().hex}"
        try:
            st = os.lstat(target)
            if (st.st_dev, st.st_ino) != inode:
                return  # another process replaced it meanwhile; the next round checks that one
            os.rename(target, aside)
        except FileNotFoundError:
            return
        remove(aside)

    async def _download_into(
        self, prefix: str, files: Sequence[ManifestEntry], key: str, target: Path
    ) -> bool:
        """Download into a staging folder and rename it to ``target``; False when another
        process (or ModelCache) put a copy there first."""
        staging = self.root / f"{STAGING}{key}-{uuid.uuid4().hex}"
        try:
            for entry in files:
                await self._download(f"{prefix}/{entry.path}", staging / entry.path, entry)
            await asyncio.to_thread(staging.mkdir, parents=True, exist_ok=True)  # no files
            await asyncio.to_thread(seal, staging)
            try:
                await asyncio.to_thread(os.rename, staging, target)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                return False
            return True
        finally:
            await asyncio.to_thread(remove, staging)

    async def _download(self, key: str, path: Path, entry: ManifestEntry) -> None:
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        digest = hashlib.sha256()
        handle = await open_file(path, "wb")
        try:
            async for chunk in self.storage.get(key):
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await close_file(handle)
        if digest.hexdigest() != entry.sha256:
            raise CorruptPackage(f"{entry.path}: stored bytes do not match the manifest's sha256")

    def _sweep(self) -> None:
        for name in sweep(self.root, (STAGING, DISCARDED), STALE_SECONDS):
            log.info("model cache: removed %s, left by a process that stopped", name)
