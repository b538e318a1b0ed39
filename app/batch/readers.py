"""Streaming input: one file or every file under a prefix, in chunks of rows.

Each file is spooled from the object store to a temporary local file (one at a time, so
disk holds at most the largest input file) and parsed from there in chunks by a worker
thread; memory holds one chunk, not the file. A run checks its chain first::

    names = await read_columns(store, source, fmt)
    problems = check_columns(steps, names)             # a missing column fails the run
    wanted = required_columns(steps, names) (+ the id column)
    async for chunk in iter_input(store, source, fmt, 10_000, columns=wanted): ...

Files under a prefix are read in sorted key order; names starting with ``_`` or ``.``
(``_SUCCESS`` markers, hidden files) are not input.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from app.adapters.object_store.port import ObjectStore, normalize_prefix
from app.batch import _file_parsers
from app.batch.chunks import Chunk, ChunkPosition, DataFormat, OnError, ReadReport, RowErrors
from app.batch.errors import BatchError

SPOOL_CHUNK_BYTES = 4 * 1024 * 1024
HEAD_CHUNK_BYTES = 64 * 1024
HEAD_LIMIT_BYTES = 16 * 1024 * 1024  # past this, read_columns fetches the whole file
P = ParamSpec("P")
T = TypeVar("T")


class InputNotFound(BatchError):
    """No object at the input key and no input files under it as a prefix."""


async def input_keys(store: ObjectStore, key_or_prefix: str) -> list[str]:
    """The input's files: the object at ``key_or_prefix``, else the files under it."""
    is_key = key_or_prefix and not key_or_prefix.endswith("/")
    if is_key and await store.head(key_or_prefix) is not None:
        return [key_or_prefix]
    prefix = normalize_prefix(key_or_prefix)
    found = await store.list(prefix)
    keys = sorted(info.key for info in found if not _is_marker(info.key))
    if not keys:
        raise InputNotFound(
            f"no input at {key_or_prefix!r}: no object with that key and no files under it"
        )
    return keys


def _is_marker(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith(("_", "."))


async def read_columns(
    store: ObjectStore,
    key_or_prefix: str,
    fmt: DataFormat | str,
    *,
    spool_dir: Path | None = None,
) -> list[str]:
    """The columns of the input's first file: the CSV header, the Parquet schema, the keys
    of the first JSON Lines object. CSV and JSON Lines are fetched only as far as needed."""
    data_format = DataFormat.parse(fmt)
    key = (await input_keys(store, key_or_prefix))[0]
    head = functools.partial(_file_parsers.header_complete, data_format)
    async with (
        _Worker() as worker,
        _spooled(store, key, data_format, spool_dir, worker, head) as path,
    ):
        return await worker.run(_file_parsers.header, data_format, path, key)


async def iter_input(
    store: ObjectStore,
    key_or_prefix: str,
    fmt: DataFormat | str,
    chunk_rows: int,
    *,
    columns: Sequence[str] | None = None,
    on_error: OnError = "fail",
    max_skipped: int = 0,
    start: ChunkPosition | None = None,
    report: ReadReport | None = None,
    spool_dir: Path | None = None,
) -> AsyncIterator[Chunk]:
    """Yield the input's rows in chunks of ``chunk_rows`` (a file's last chunk is shorter).

    ``columns`` loads only those columns; a file without one of them raises
    :class:`MissingColumns`. Malformed rows (a CSV row with the wrong number of fields, a
    JSON Lines line that is not a JSON object) raise :class:`MalformedInput` with
    ``on_error="fail"``; with ``"skip"`` they are skipped and counted in ``report`` until
    more than ``max_skipped`` have been, which raises. ``start`` resumes a read: earlier
    files are not fetched and earlier chunks of its file are not yielded.

    Close the iterator (``aclose``) when stopping early, so the spooled file is removed.
    """
    data_format = DataFormat.parse(fmt)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, not {chunk_rows!r}")
    report = report if report is not None else ReadReport()
    errors = RowErrors(on_error, max_skipped, report)
    first = start or ChunkPosition(0, 0)
    wanted = list(columns) if columns is not None else None
    if wanted == []:
        raise ValueError("columns must name at least one column (None loads them all)")
    keys = await input_keys(store, key_or_prefix)
    async with _Worker() as worker:
        for file_index, key in enumerate(keys):
            if file_index < first.file_index:
                continue
            report.files.append(key)
            async with _spooled(store, key, data_format, spool_dir, worker) as path:
                frames = _file_parsers.frames(data_format, path, key, chunk_rows, wanted, errors)
                try:
                    first_row = 0
                    skipped_before = report.skipped
                    chunk_index = 0
                    while (frame := await worker.run(next, frames, None)) is not None:
                        if file_index > first.file_index or chunk_index >= first.chunk_index:
                            report.rows += len(frame)
                            yield Chunk(
                                frame=frame,
                                key=key,
                                file_index=file_index,
                                chunk_index=chunk_index,
                                first_row=first_row,
                                skipped=report.skipped - skipped_before,
                            )
                        skipped_before = report.skipped
                        chunk_index += 1
                        first_row += len(frame)
                finally:
                    await worker.run(frames.close)


class _Worker:
    """One thread for a read's blocking work. Parsing on the shared pool's many threads
    spreads allocations over many malloc arenas, which costs ~50 MB more peak memory; and
    with one thread, closing the parser after a cancelled step waits for that step instead
    of running beside it."""

    async def __aenter__(self) -> _Worker:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-read")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Not waiting: a cancelled read must not block the event loop on a parse step.
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        call = functools.partial(func, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)


@asynccontextmanager
async def _spooled(
    store: ObjectStore,
    key: str,
    fmt: DataFormat,
    directory: Path | None,
    worker: _Worker,
    enough: Callable[[bytearray], bool] | None = None,
) -> AsyncIterator[Path]:
    """The object at ``key`` copied to a temporary local file, removed on exit; only its
    start when ``enough`` says that start suffices."""
    created = asyncio.ensure_future(
        worker.run(
            tempfile.mkstemp, prefix="modelrepo-batch-", suffix=f".{fmt.extension}", dir=directory
        )
    )
    try:
        descriptor, name = await asyncio.shield(created)
    except asyncio.CancelledError:
        # The thread may still create the file: whoever waits no longer, it is removed.
        created.add_done_callback(_discard_spool)
        raise
    path = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as file:
            size = SPOOL_CHUNK_BYTES if enough is None else HEAD_CHUNK_BYTES
            stream = store.get(key, chunk_size=size)
            head = bytearray()
            try:
                async for piece in stream:
                    await worker.run(file.write, piece)
                    if enough is not None and len(head) < HEAD_LIMIT_BYTES:
                        head += piece
                        if enough(head):
                            break
            finally:
                close = getattr(stream, "aclose", None)
                if close is not None:
                    await close()
        yield path
    finally:
        await worker.run(path.unlink, missing_ok=True)


def _discard_spool(created: asyncio.Future[tuple[int, str]]) -> None:
    if created.cancelled() or created.exception() is not None:
        return
    descriptor, name = created.result()
    os.close(descriptor)
    with contextlib.suppress(OSError):
        os.unlink(name)
