"""The onnxruntime runtime runs cheap models on the event loop's thread and the others in
the model's own thread, with the same answers either way."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from onnx import TensorProto, helper

from app.serving.runtimes._run_cost import RunCost
from app.serving.runtimes.base import TensorSpec
from app.serving.runtimes.onnx import OnnxRuntime, _zeros
from tests.unit.runtimes.builders import expected, loaded, write_linear_onnx


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def counted(runtime: OnnxRuntime) -> CountingExecutor:
    runtime._executor.shutdown()
    executor = runtime._executor = CountingExecutor()
    return executor


async def test_inline_and_threaded_runs_answer_the_same(tmp_path: Path) -> None:
    write_linear_onnx(tmp_path / "model.onnx")
    runtime = OnnxRuntime(tmp_path)
    executor = counted(runtime)
    x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    async with loaded(runtime):
        answers = []
        for cost, hops in ((RunCost(0.0, 0.0), 0), (RunCost(1.0, 0.0), 1), (None, 1)):
            runtime._cost = cost
            before = executor.submitted
            answers.append(await runtime.predict({"x": x}))
            assert executor.submitted - before == hops
    for answer in answers:
        np.testing.assert_allclose(answer["y"], expected(x), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(answer["best"], answers[0]["best"])


async def test_every_run_updates_the_estimate(tmp_path: Path) -> None:
    write_linear_onnx(tmp_path / "model.onnx")
    async with loaded(OnnxRuntime(tmp_path)) as runtime:
        assert isinstance(runtime, OnnxRuntime)
        for fixed in (1e-12, 1.0):  # inline, then in the thread
            cost = runtime._cost = RunCost(fixed, 0.0)
            await runtime.predict({"x": np.zeros((1, 2), np.float32)})
            assert cost.scale != 1.0


async def test_string_inputs_always_go_to_the_thread(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["same"])],
        "echo",
        [helper.make_tensor_value_info("text", TensorProto.STRING, [None])],
        [helper.make_tensor_value_info("same", TensorProto.STRING, [None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (tmp_path / "echo.onnx").write_bytes(model.SerializeToString())
    async with loaded(OnnxRuntime(tmp_path)) as runtime:
        assert isinstance(runtime, OnnxRuntime)
        assert runtime._cost is None  # no probe: nothing to make its inputs from


def test_probe_inputs_are_zeros_of_each_declared_shape() -> None:
    feeds = _zeros(
        [
            TensorSpec("a", "FP32", (-1, 3)),
            TensorSpec("b", "INT64", (2, 4)),
            TensorSpec("c", "BOOL", (-1,)),
        ],
        7,
    )
    assert feeds is not None
    shapes = {
        name: (array.shape, array.dtype.str, int(array.sum())) for name, array in feeds.items()
    }
    assert shapes == {"a": ((7, 3), "<f4", 0), "b": ((2, 4), "<i8", 0), "c": ((7,), "|b1", 0)}
    assert _zeros([TensorSpec("s", "BYTES", (-1, 1))], 1) is None
    assert _zeros([TensorSpec("d", "FP32", (-1, -1))], 1) is None  # dynamic past the batch
    assert _zeros([TensorSpec("scalar", "FP32", ())], 1) is None
