"""open_file and close_file: a task cancelled while its file is being opened or closed leaves
no open file behind."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.files import close_file, open_file, open_resource


async def test_a_cancelled_open_closes_the_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes
    opening = asyncio.create_task(open_file(fifo, "rb"))
    await asyncio.sleep(0.05)
    opening.cancel()
    writer = await asyncio.to_thread(os.open, fifo, os.O_WRONLY)  # now the open completes
    try:
        await asyncio.gather(opening, return_exceptions=True)
        assert opening.cancelled()
        await asyncio.sleep(0.05)  # the thread hands the file over; it is closed then
        gc.collect()  # an unclosed file would warn here (warnings are errors)
    finally:
        os.close(writer)


async def test_an_open_file_is_returned(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    handle = await open_file(path, "rb")
    try:
        assert handle.read() == b"data"
    finally:
        handle.close()


def test_a_close_cancelled_while_queued_still_closes(tmp_path: Path) -> None:
    # One worker thread, kept busy: the close waits in the executor's queue, where a
    # cancellation would drop it unstarted.
    path = tmp_path / "f"
    path.write_bytes(b"data")
    busy = threading.Event()

    async def scenario() -> None:
        executor = ThreadPoolExecutor(max_workers=1)
        asyncio.get_running_loop().set_default_executor(executor)
        handle = path.open("rb")
        blocker = asyncio.ensure_future(asyncio.to_thread(busy.wait))
        try:
            closing = asyncio.create_task(close_file(handle))
            await asyncio.sleep(0.05)
            closing.cancel()
            await asyncio.gather(closing, return_exceptions=True)
            assert closing.cancelled()
            closed = handle.closed
            handle.close()
            assert closed
        finally:
            busy.set()
            await blocker

    asyncio.run(scenario())


async def test_a_cancelled_open_gets_its_own_release() -> None:
    released: list[str] = []
    gate = threading.Event()

    def opener() -> str:
        gate.wait()
        return "resource"

    opening = asyncio.create_task(open_resource(opener, released.append))
    await asyncio.sleep(0.05)
    opening.cancel()
    gate.set()
    await asyncio.gather(opening, return_exceptions=True)
    assert opening.cancelled()
    for _ in range(100):
        if released:
            break
        await asyncio.sleep(0.01)
    assert released == ["resource"]
