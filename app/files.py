"""Opening files from async code without blocking the loop, and without leaking them.

``await asyncio.to_thread(path.open, ...)`` leaks the file when the awaiting task is
cancelled: the thread still opens it, and nobody is left to close it (Python then warns
about an unclosed file). Here the open is shielded and, on cancellation, the file it
produces is closed as soon as the thread hands it over.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import IO, Any


async def open_file(path: Path, mode: str) -> IO[Any]:
    opening: asyncio.Future[IO[Any]] = asyncio.ensure_future(
        asyncio.to_thread(functools.partial(path.open, mode))
    )
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_result)
        raise


def _close_result(opened: asyncio.Future[IO[Any]]) -> None:
    if not opened.cancelled() and opened.exception() is None:
        opened.result().close()
