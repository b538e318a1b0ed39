"""Adaptive batching: merged calls, exact row routing, failures and shutdown."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from app.serving.batcher import Batcher, BatcherClosed
from app.serving.runtimes.base import Batch, RuntimeFailure


class Model:
    """A predict that doubles ``x`` and echoes the row ids, recording every call.

    With ``gate`` set, each call waits for it, so a test controls what is in flight.
    """

    def __init__(
        self, *, delay: float = 0.0, gated: bool = False, poison: int | None = None
    ) -> None:
        self.calls: list[list[int]] = []
        self.delay = delay
        self.gate = asyncio.Event() if gated else None
        self.started = asyncio.Event()
        self.poison = poison

    async def predict(self, batch: Batch) -> Batch:
        ids = batch["id"].tolist()
        self.calls.append(ids)
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(self.delay)
        if self.poison in ids:
            raise RuntimeFailure(f"row {self.poison} is poison")
        return {"y": batch["x"] * 2, "id": batch["id"].copy()}


def request(first_id: int, rows: int = 1, width: int = 1) -> Batch:
    ids = np.arange(first_id, first_id + rows)
    return {"x": np.repeat(ids[:, None], width, axis=1).astype(np.float32), "id": ids}


def check_answer(answer: Batch, first_id: int, rows: int = 1) -> None:
    ids = np.arange(first_id, first_id + rows)
    np.testing.assert_array_equal(answer["id"], ids)
    np.testing.assert_array_equal(answer["y"][:, 0], ids * 2)


async def started(model: Model, calls: int) -> None:
    async with asyncio.timeout(5):
        while len(model.calls) < calls:
            model.started.clear()
            await model.started.wait()


def batcher_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "batcher"]


async def test_concurrent_single_rows_share_calls_and_get_their_own_rows() -> None:
    model = Model(delay=0.01)
    batcher = Batcher(model.predict, max_batch_size=8, max_wait_ms=2)
    answers = await asyncio.gather(*(batcher.submit(request(i)) for i in range(32)))
    for i, answer in enumerate(answers):
        check_answer(answer, i)
    assert len(model.calls) <= 8  # 32 single calls without batching
    assert all(len(call) <= 8 for call in model.calls)
    assert sorted(row for call in model.calls for row in call) == list(range(32))
    await batcher.close()


async def test_requests_of_several_rows_are_split_back_exactly() -> None:
    model = Model()
    batcher = Batcher(model.predict, max_batch_size=16, max_wait_ms=0)
    sizes = [3, 1, 4, 1, 5, 2]
    firsts = [sum(sizes[:index]) * 10 for index in range(len(sizes))]
    answers = await asyncio.gather(
        *(batcher.submit(request(first, rows)) for first, rows in zip(firsts, sizes, strict=True))
    )
    for answer, first, rows in zip(answers, firsts, sizes, strict=True):
        check_answer(answer, first, rows)
    assert [len(call) for call in model.calls] == [16]
    await batcher.close()


async def test_requests_arriving_during_a_call_form_the_next_batch() -> None:
    model = Model(gated=True)
    batcher = Batcher(model.predict, max_batch_size=8, max_wait_ms=0)
    first = asyncio.create_task(batcher.submit(request(0)))
    await started(model, 1)
    later = [asyncio.create_task(batcher.submit(request(i))) for i in range(1, 6)]
    await asyncio.sleep(0)
    assert model.calls == [[0]]  # queued behind the running call, not run beside it
    assert model.gate is not None
    model.gate.set()
    answers = await asyncio.gather(first, *later)
    for i, answer in enumerate(answers):
        check_answer(answer, i)
    assert model.calls == [[0], [1, 2, 3, 4, 5]]
    await batcher.close()


async def test_a_lone_request_waits_for_company_until_the_batch_is_full() -> None:
    model = Model()
    batcher = Batcher(model.predict, max_batch_size=2, max_wait_ms=60_000)
    async with asyncio.timeout(10):  # a full batch must not wait out the minute
        first = asyncio.create_task(batcher.submit(request(0)))
        await asyncio.sleep(0)
        assert model.calls == []
        second = await batcher.submit(request(1))
        check_answer(await first, 0)
    check_answer(second, 1)
    assert model.calls == [[0, 1]]
    await batcher.close()


async def test_max_batch_size_is_respected_and_a_big_request_runs_alone() -> None:
    model = Model()
    batcher = Batcher(model.predict, max_batch_size=4, max_wait_ms=0)
    sizes = {0: 3, 10: 2, 20: 6, 30: 1}
    answers = await asyncio.gather(
        *(batcher.submit(request(first, rows)) for first, rows in sizes.items())
    )
    for answer, (first, rows) in zip(answers, sizes.items(), strict=True):
        check_answer(answer, first, rows)
    # The oldest request leads each batch; smaller later ones fill the space left.
    assert model.calls == [[0, 1, 2, 30], [10, 11], [20, 21, 22, 23, 24, 25]]
    await batcher.close()


async def test_inputs_with_other_trailing_shapes_or_dtypes_are_not_merged() -> None:
    model = Model()
    batcher = Batcher(model.predict, max_batch_size=8, max_wait_ms=0)
    as_int = request(30)
    as_int["x"] = as_int["x"].astype(np.int64)
    answers = await asyncio.gather(
        batcher.submit(request(0, width=3)),
        batcher.submit(request(10, width=5)),
        batcher.submit(request(20, width=3)),
        batcher.submit(as_int),
    )
    for answer, first in zip(answers, [0, 10, 20, 30], strict=True):
        check_answer(answer, first)
    assert answers[1]["y"].shape == (1, 5)
    assert model.calls == [[0, 20], [10], [30]]
    await batcher.close()


async def test_an_exception_fails_only_the_requests_of_its_batch() -> None:
    model = Model(poison=1)
    batcher = Batcher(model.predict, max_batch_size=2, max_wait_ms=0)
    results = await asyncio.gather(
        *(batcher.submit(request(i)) for i in range(4)), return_exceptions=True
    )
    assert model.calls == [[0, 1], [2, 3]]
    for failed in results[:2]:
        assert isinstance(failed, RuntimeFailure) and "poison" in failed.message
    for i, answer in enumerate(results[2:], start=2):
        assert isinstance(answer, dict)
        check_answer(answer, i)
    check_answer(await batcher.submit(request(5)), 5)  # the batcher keeps serving
    await batcher.close()


async def test_outputs_with_the_wrong_number_of_rows_fail_the_batch() -> None:
    async def predict(batch: Batch) -> Batch:
        return {"y": np.zeros(len(batch["x"]) + 1)}

    batcher = Batcher(predict, max_batch_size=4, max_wait_ms=0)
    with pytest.raises(RuntimeFailure, match="'y'"):
        await batcher.submit(request(0))
    await batcher.close()


async def test_cancelled_callers_do_not_break_the_batch() -> None:
    model = Model(gated=True)
    batcher = Batcher(model.predict, max_batch_size=8, max_wait_ms=0)
    running = [asyncio.create_task(batcher.submit(request(i))) for i in range(3)]
    await started(model, 1)
    queued = [asyncio.create_task(batcher.submit(request(i))) for i in range(10, 13)]
    await asyncio.sleep(0)
    running[1].cancel()  # its rows are being predicted
    queued[0].cancel()  # not yet in a batch
    assert model.gate is not None
    model.gate.set()
    check_answer(await running[0], 0)
    check_answer(await running[2], 2)
    check_answer(await queued[1], 11)
    check_answer(await queued[2], 12)
    for task in (running[1], queued[0]):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert model.calls == [[0, 1, 2], [11, 12]]
    await batcher.close()


async def test_close_fails_queued_requests_and_lets_the_running_batch_finish() -> None:
    model = Model(gated=True)
    batcher = Batcher(model.predict, max_batch_size=8, max_wait_ms=0)
    running = asyncio.create_task(batcher.submit(request(0)))
    await started(model, 1)
    queued = asyncio.create_task(batcher.submit(request(1)))
    await asyncio.sleep(0)
    closing = asyncio.create_task(batcher.close())
    await asyncio.sleep(0)
    with pytest.raises(BatcherClosed) as caught:
        await queued
    assert caught.value.status == 503 and "shutting down" in caught.value.message
    assert not closing.done()  # waiting for the running batch
    assert model.gate is not None
    model.gate.set()
    await closing
    check_answer(await running, 0)
    with pytest.raises(BatcherClosed):
        await batcher.submit(request(2))
    assert model.calls == [[0]]
    assert batcher_tasks() == []
    await batcher.close()  # closing twice is harmless


async def test_no_task_is_left_once_idle_even_without_close() -> None:
    model = Model()
    batcher = Batcher(model.predict, max_batch_size=4, max_wait_ms=1)
    await asyncio.gather(*(batcher.submit(request(i)) for i in range(6)))
    await asyncio.sleep(0)
    assert batcher_tasks() == []
    check_answer(await batcher.submit(request(7)), 7)  # and a new one starts on demand
    await asyncio.sleep(0)
    assert batcher_tasks() == []


async def test_malformed_batches_and_settings_are_programming_errors() -> None:
    batcher = Batcher(Model().predict, max_batch_size=4, max_wait_ms=0)
    with pytest.raises(ValueError, match="at least one input"):
        await batcher.submit({})
    with pytest.raises(ValueError, match="same number of rows"):
        await batcher.submit({"x": np.zeros((2, 1)), "id": np.arange(3)})
    with pytest.raises(ValueError, match="same number of rows"):
        await batcher.submit({"x": np.array(1.0, dtype=np.float32), "id": np.arange(1)})
    with pytest.raises(ValueError, match="max_batch_size"):
        Batcher(Model().predict, max_batch_size=0, max_wait_ms=0)
    with pytest.raises(ValueError, match="max_wait_ms"):
        Batcher(Model().predict, max_batch_size=1, max_wait_ms=-1)
    await batcher.close()
