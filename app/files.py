"""Opening and closing files from async code without blocking the loop, and without leaking them.

``await asyncio.to_thread(path.open, ...)`` leaks the file when the awaiting task is
cancelled: the thread still opens it, and nobody is left to close it (Python then warns
about an unclosed file). Here the open is shielded and, on cancellation, what it
produces is released as soon as the thread hands it over.

``await asyncio.to_thread(handle.close)`` leaks it the other way: a cancellation that
arrives while the close waits in the executor's queue drops the job unstarted. A
cancelled close (or other release) therefore finishes on the loop before the cancellation
goes on.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


R = TypeVar("R")


async def open_resource(opener: Callable[[], R], release: Callable[[R], None]) -> R:
    """``opener()`` on a worker thread; if the caller is cancelled, ``release`` gets what it
    opened."""
    opening: asyncio.Future[R] = asyncio.ensure_future(asyncio.to_thread(opener))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(functools.partial(_release_result, release))
        raise


async def open_file(path: Path, mode: str) -> IO[Any]:
    return await open_resource(functools.partial(path.open, mode), close_now)


async def close_file(handle: Closable) -> None:
    await finish(handle.close)


async def finish(release: Callable[[], None]) -> None:
    """``release()`` on a worker thread, or on the loop if the caller is cancelled meanwhile.
    ``release`` must be safe to call twice (the thread may have started it)."""
    try:
        await asyncio.to_thread(release)
    except BaseException as exc:
        if not isinstance(exc, Exception):
            release()
        raise


def close_now(handle: Closable) -> None:
    """Close on the calling thread: a ``release`` for :func:`open_resource`."""
    handle.close()


def _release_result(release: Callable[[R], None], opened: asyncio.Future[R]) -> None:
    if not opened.cancelled() and opened.exception() is None:
        release(opened.result())
