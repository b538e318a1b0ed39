"""What checking a cached package against its manifest costs, per 100 MB.

Prints figures; asserts nothing. Run from the project root:

    .venv/bin/python bench/model_cache.py             # 400 MB package, 5 repeats
    .venv/bin/python bench/model_cache.py --quick     # 100 MB, 3 repeats

Measures, on the local disk (the package in the page cache, as after a download):
  1. the first fetch (download from the local object store, hashed on the way in);
  2. a fetch that hashes every file (a fresh process, or files changed less than a second
     before) — the cost every load would pay without the stamps;
  3. a fetch that trusts the files' stamps (files unchanged since they were last hashed).

MB = 2^20 bytes throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from app.adapters.object_store.local import LocalObjectStore
from app.serving import _cache_files
from app.serving.cache import ModelCache

MB = 1024 * 1024
FILE_MB = 100


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    sha256: str


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def package(store: LocalObjectStore, total_mb: int) -> list[Entry]:
    entries = []
    for index in range(max(1, total_mb // FILE_MB)):
        data = hashlib.shake_256(str(index).encode()).digest(FILE_MB * MB)
        path = f"weights/part-{index}.bin"
        await store.put(f"pkg/{path}", _one(data))
        entries.append(Entry(path, len(data), hashlib.sha256(data).hexdigest()))
    return entries


async def timed(cache: ModelCache, entries: list[Entry]) -> float:
    started = time.perf_counter()
    await cache.fetch("pkg", entries)
    return time.perf_counter() - started


async def main(total_mb: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = LocalObjectStore(root / "objects")
        entries = await package(store, total_mb)
        size_mb = sum(e.size for e in entries) / MB
        first = await timed(ModelCache(root / "cache", store), entries)
        hashing, stamped = [], []
        for _ in range(repeats):
            # A new ModelCache has no stamps: the check hashes every file.
            hashing.append(await timed(ModelCache(root / "cache", store), entries))
        _cache_files.SETTLED_NS = 0  # the files were just written; trust them at once
        cache = ModelCache(root / "cache", store)
        await timed(cache, entries)
        for _ in range(repeats):
            stamped.append(await timed(cache, entries))
    per_100 = 100 / size_mb * 1000
    print(f"package: {size_mb:.0f} MB in {len(entries)} files")
    print(f"first fetch (download + hash):  {first * per_100:7.1f} ms per 100 MB")
    print(
        f"check, hashing every file:      {statistics.median(hashing) * per_100:7.1f} ms per 100 MB"
    )
    print(f"check, stamps unchanged:        {statistics.median(stamped) * 1000:7.2f} ms in all")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(100 if args.quick else 400, 3 if args.quick else 5))
