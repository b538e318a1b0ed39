"""open_file: a task cancelled while its file is being opened leaves no open file behind."""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path

from app.files import open_file


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
