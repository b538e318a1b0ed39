"""Streams that keep a local copy of what passes through (file I/O off the event loop)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from app.files import close_file, close_now, open_resource


class Tee:
    """Pass chunks through while writing them to ``path`` (parents created)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: BinaryIO | None = None

    async def through(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        if self._handle is None:
            self._handle = await open_resource(functools.partial(_create, self.path), close_now)
        handle = self._handle
        async for chunk in chunks:
            await asyncio.to_thread(handle.write, chunk)
            yield chunk

    async def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            await close_file(handle)


async def write_local(path: Path, chunks: AsyncIterable[bytes]) -> int:
    """Write the stream to ``path``; returns the number of bytes written."""
    tee = Tee(path)
    size = 0
    try:
        async for chunk in tee.through(chunks):
            size += len(chunk)
    finally:
        await tee.close()
    return size


def _create(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("xb")
