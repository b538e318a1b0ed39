"""Adaptive server-side batching: concurrent requests share one ``predict`` call.

One predict call runs at a time. While it runs, new requests queue up and become the next
batch, so under load batches grow by themselves and an idle server adds no delay beyond
``max_wait_ms`` (the time a lone request waits for company; 0 = none).

A batch holds at most ``max_batch_size`` rows; a single request bigger than that runs
alone rather than being refused (refusing is the codec's job, with its row limit). Only
requests whose inputs agree on names, dtypes and every axis but the first are merged:
concatenating anything else would fail or silently upcast.

The dispatcher task exists only while requests are queued or running, so a forgotten
``close()`` cannot leave a task pending.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from app.serving.runtimes.base import Batch, RuntimeFailure

Predict = Callable[[Batch], Awaitable[Batch]]
_Key = tuple[tuple[str, str, tuple[int, ...]], ...]


class BatcherClosed(RuntimeFailure):
    """The batcher was closed before the request ran (the model is being unloaded)."""

    def __init__(self) -> None:
        super().__init__("the model is shutting down; retry the request", 503)


@dataclass(eq=False)
class _Request:
    batch: Batch
    rows: int
    key: _Key
    future: asyncio.Future[Batch] = field(repr=False)


def _rows(batch: Batch) -> int:
    if not batch:
        raise ValueError("a batch needs at least one input")
    counts = {int(array.shape[0]) if array.ndim else -1 for array in batch.values()}
    if -1 in counts or len(counts) != 1:
        raise ValueError("every input of a batch needs the same number of rows on axis 0")
    return counts.pop()


def _key(batch: Batch) -> _Key:
    return tuple(sorted((name, array.dtype.str, array.shape[1:]) for name, array in batch.items()))


class Batcher:
    """Merges concurrent ``submit`` calls into calls of ``predict``; see the module notes."""

    def __init__(self, predict: Predict, *, max_batch_size: int, max_wait_ms: float) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        self._predict = predict
        self._max_rows = max_batch_size
        self._max_wait = max_wait_ms / 1000
        self._queue: list[_Request] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, batch: Batch) -> Batch:
        """The outputs for ``batch``'s rows (and only those). Raises what ``predict`` raised
        for the batch this request ran in, or BatcherClosed."""
        if self._closed:
            raise BatcherClosed()
        arrays = {name: np.asarray(array) for name, array in batch.items()}
        future: asyncio.Future[Batch] = asyncio.get_running_loop().create_future()
        request = _Request(arrays, _rows(arrays), _key(arrays), future)
        self._queue.append(request)
        self._arrived.set()
        if self._task is None:
            self._task = asyncio.create_task(self._dispatch(), name="batcher")
        # Cancelling the caller cancels the future; the dispatcher then leaves it out, or
        # (if its batch is already running) drops its rows.
        return await request.future

    async def close(self) -> None:
        """Fail queued requests with BatcherClosed, let a running batch finish, and stop.
        Later submits fail at once."""
        self._closed = True
        queued, self._queue = self._queue, []
        for request in queued:
            if not request.future.done():
                request.future.set_exception(BatcherClosed())
        self._arrived.set()
        task = self._task
        if task is not None:
            await asyncio.shield(task)

    async def _dispatch(self) -> None:
        try:
            # Idle until now: give a lone request a chance of company.
            await self._gather()
            while not self._closed:
                requests = self._next_batch()
                if not requests:
                    break
                await self._run(requests)
        except asyncio.CancelledError:  # the loop is shutting down under us
            for request in self._queue:
                request.future.cancel()
            self._queue = []
            raise
        finally:
            # No await between the queue running dry and forgetting the task: a submit
            # either landed in the queue before (and is served) or starts a new task.
            self._task = None

    async def _gather(self) -> None:
        if self._max_wait <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        while not self._closed and not self._full():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()

    def _full(self) -> bool:
        live = [request for request in self._queue if not request.future.done()]
        if not live:
            return True  # nothing to wait for
        first = live[0]
        rows = sum(request.rows for request in live if request.key == first.key)
        return rows >= self._max_rows

    def _next_batch(self) -> list[_Request]:
        """The oldest live request and the compatible ones that fit behind it, in order."""
        self._queue = [request for request in self._queue if not request.future.done()]
        if not self._queue:
            return []
        first, rest = self._queue[0], self._queue[1:]
        taken, left, rows = [first], [], first.rows
        for request in rest:
            if request.key == first.key and rows + request.rows <= self._max_rows:
                taken.append(request)
                rows += request.rows
            else:
                left.append(request)
        self._queue = left
        return taken

    async def _run(self, requests: list[_Request]) -> None:
        if len(requests) == 1:
            merged = requests[0].batch
        else:
            merged = {
                name: np.concatenate([request.batch[name] for request in requests])
                for name in requests[0].batch
            }
        try:
            outputs = await self._predict(merged)
            parts = _split(outputs, [request.rows for request in requests])
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                for request in requests:
                    request.future.cancel()
                raise
            # predict's own work was cancelled, not the dispatcher: fail just this batch.
            self._fail(requests, RuntimeFailure("the prediction was cancelled"))
            return
        except Exception as exc:
            self._fail(requests, exc)
            return
        for request, part in zip(requests, parts, strict=True):
            if not request.future.done():
                request.future.set_result(part)

    @staticmethod
    def _fail(requests: list[_Request], exc: BaseException) -> None:
        for request in requests:
            if not request.future.done():
                request.future.set_exception(exc)


def _split(outputs: Batch, counts: list[int]) -> list[Batch]:
    total = sum(counts)
    for name, array in outputs.items():
        got = np.shape(array)[0] if np.ndim(array) else None
        if got != total:
            raise RuntimeFailure(f"the model returned {got} rows of '{name}' for {total} rows")
    arrays = {name: np.asarray(array) for name, array in outputs.items()}
    if len(counts) == 1:
        return [arrays]
    # Slices (views, as np.split gives) without np.split's per-call overhead.
    parts, start = [], 0
    for count in counts:
        stop = start + count
        parts.append({name: array[start:stop] for name, array in arrays.items()})
        start = stop
    return parts
