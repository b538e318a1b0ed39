"""The onnxruntime runtime on a tiny linear model built with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from app.serving.runtimes.base import RuntimeFailure, RuntimeOptions, TensorSpec
from app.serving.runtimes.onnx import OnnxRuntime
from tests.unit.runtimes.builders import expected, loaded, write_linear_onnx


async def test_inputs_and_outputs_come_from_the_session(tmp_path: Path) -> None:
    write_linear_onnx(tmp_path / "linear.onnx")
    async with loaded(OnnxRuntime(tmp_path)) as runtime:
        assert runtime.inputs == [TensorSpec("x", "FP32", (-1, 2))]
        assert runtime.outputs == [
            TensorSpec("y", "FP32", (-1, 3)),
            TensorSpec("best", "INT64", (-1,)),
        ]
        assert runtime.supports_batching


@pytest.mark.parametrize("rows", [1, 64])
async def test_predicts_known_values_for_any_batch_size(tmp_path: Path, rows: int) -> None:
    write_linear_onnx(tmp_path / "model.onnx")
    x = np.random.default_rng(rows).normal(size=(rows, 2)).astype(np.float32)
    async with loaded(OnnxRuntime(tmp_path, RuntimeOptions(cpu_threads=2))) as runtime:
        result = await runtime.predict({"x": x})
    assert set(result) == {"y", "best"}
    np.testing.assert_allclose(result["y"], expected(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(result["best"], expected(x).argmax(axis=1))
    assert result["y"].shape == (rows, 3)
    assert result["best"].dtype == np.int64


async def test_inputs_are_cast_to_the_model_type(tmp_path: Path) -> None:
    write_linear_onnx(tmp_path / "model.onnx")
    async with loaded(OnnxRuntime(tmp_path)) as runtime:
        result = await runtime.predict({"x": np.array([[1, 2]], dtype=np.int64)})
    np.testing.assert_allclose(result["y"], [[5.5, 0.0, -2.5]])


async def test_model_onnx_is_preferred_among_several(tmp_path: Path) -> None:
    write_linear_onnx(tmp_path / "model.onnx")
    (tmp_path / "other.onnx").write_bytes(b"not a model")
    async with loaded(OnnxRuntime(tmp_path)) as runtime:
        assert [spec.name for spec in runtime.outputs] == ["y", "best"]


async def test_several_onnx_files_without_model_onnx_are_refused(tmp_path: Path) -> None:
    write_linear_onnx(tmp_path / "a.onnx")
    write_linear_onnx(tmp_path / "b.onnx")
    with pytest.raises(RuntimeFailure, match=r"several model files .*: a\.onnx, b\.onnx"):
        await OnnxRuntime(tmp_path).load()


async def test_a_package_without_an_onnx_file_fails_to_load(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no model")
    with pytest.raises(RuntimeFailure, match=r"no model file \(\.onnx\)"):
        await OnnxRuntime(tmp_path).load()


async def test_a_broken_onnx_file_fails_to_load(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(RuntimeFailure, match=r"onnxruntime cannot load model\.onnx"):
        await OnnxRuntime(tmp_path).load()


async def test_bad_requests_are_client_errors(tmp_path: Path) -> None:
    write_linear_onnx(tmp_path / "model.onnx")
    async with loaded(OnnxRuntime(tmp_path)) as runtime:
        with pytest.raises(RuntimeFailure, match="the input 'x' is missing") as missing:
            await runtime.predict({"z": np.zeros((1, 2), np.float32)})
        with pytest.raises(RuntimeFailure, match="inference failed") as shape:
            await runtime.predict({"x": np.zeros((1, 5), np.float32)})
    assert (missing.value.status, shape.value.status) == (400, 400)


async def test_predict_after_unload_is_unavailable(tmp_path: Path) -> None:
    write_linear_onnx(tmp_path / "model.onnx")
    async with loaded(OnnxRuntime(tmp_path)) as runtime:
        pass
    with pytest.raises(RuntimeFailure) as caught:
        await runtime.predict({"x": np.zeros((1, 2), np.float32)})
    assert caught.value.status == 503


async def test_string_tensors_go_in_and_out(tmp_path: Path) -> None:
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
        assert runtime.inputs == [TensorSpec("text", "BYTES", (-1,))]
        result = await runtime.predict({"text": np.array([b"caf\xc3\xa9", "tea"], dtype=object)})
    assert result["same"].tolist() == ["café", "tea"]
