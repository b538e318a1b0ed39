"""Local copies of version packages, keyed by content: the sha256 of the manifest.

Two file sets with the same files share one copy; a copy is written under a temporary name
and renamed into place whole, after every file's sha256 was checked on the way in.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from app.adapters.object_store.port import ObjectStore
from app.files import close_file, open_file


class ManifestEntry(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def sha256(self) -> str: ...


class CorruptPackage(Exception):
    pass


def content_key(files: Sequence[ManifestEntry]) -> str:
    manifest = "\n".join(f"{f.path}\0{f.sha256}" for f in sorted(files, key=lambda f: f.path))
    return hashlib.sha256(manifest.encode()).hexdigest()


class ModelCache:
    def __init__(self, root: Path, storage: ObjectStore) -> None:
        self.root = root
        self.storage = storage
        self._locks: dict[str, asyncio.Lock] = {}

    async def fetch(self, prefix: str, files: Sequence[ManifestEntry]) -> Path:
        """The local directory holding these files (downloaded once)."""
        key = content_key(files)
        target = self.root / key
        if await asyncio.to_thread(target.is_dir):
            return target
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread(target.is_dir):
                return target
            staging = self.root / f".tmp-{key}-{uuid.uuid4().hex}"
            try:
                for entry in files:
                    await self._download(f"{prefix}/{entry.path}", staging / entry.path, entry)
                await asyncio.to_thread(staging.rename, target)
            finally:
                await asyncio.to_thread(shutil.rmtree, staging, True)
        return target

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
