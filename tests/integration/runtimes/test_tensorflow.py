"""The TensorFlow runtime: a SavedModel and frozen graphs built at test time. TensorFlow is
slow to import, so every test that needs it is in this module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.serving.runtimes.base import RuntimeFailure, TensorSpec
from app.serving.runtimes.tensorflow import TensorflowRuntime
from tests.unit.runtimes.builders import B, W, expected, loaded, tensor, write_config

tf = pytest.importorskip("tensorflow")


class Linear(tf.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.w = tf.Variable(W)
        self.b = tf.Variable(B)

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def serve(self, x: Any) -> dict[str, Any]:
        y = tf.matmul(x, self.w) + self.b
        return {"y": y, "best": tf.argmax(y, axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def lengths(self, text: Any) -> dict[str, Any]:
        return {"length": tf.strings.length(text), "upper": tf.strings.upper(text)}


def save_model(folder: Path, signature: str = "serve") -> Path:
    module = Linear()
    tf.saved_model.save(
        module, str(folder), signatures={"serving_default": getattr(module, signature)}
    )
    return folder


def write_frozen_graph(path: Path) -> Path:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        xw = tf.matmul(x, tf.constant(W), name="xw")
        tf.add(xw, tf.constant(B), name="y")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


@pytest.mark.parametrize("rows", [1, 64])
async def test_a_saved_model_serves_its_default_signature(tmp_path: Path, rows: int) -> None:
    save_model(tmp_path / "export" / "1")  # a SavedModel anywhere in the package
    x = np.random.default_rng(rows).normal(size=(rows, 2)).astype(np.float32)
    async with loaded(TensorflowRuntime(tmp_path)) as runtime:
        assert runtime.inputs == [TensorSpec("x", "FP32", (-1, 2))]
        assert runtime.outputs == [
            TensorSpec("best", "INT64", (-1,)),
            TensorSpec("y", "FP32", (-1, 3)),
        ]
        result = await runtime.predict({"x": x})
    np.testing.assert_allclose(result["y"], expected(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result["best"], expected(x).argmax(axis=1))


async def test_string_tensors_go_in_and_out(tmp_path: Path) -> None:
    save_model(tmp_path, signature="lengths")
    async with loaded(TensorflowRuntime(tmp_path)) as runtime:
        assert runtime.inputs == [TensorSpec("text", "BYTES", (-1,))]
        result = await runtime.predict({"text": np.array([b"ab", "cde"], dtype=object)})
    assert result["length"].tolist() == [2, 3]
    assert result["upper"].tolist() == [b"AB", b"CDE"]


@pytest.mark.parametrize("rows", [1, 64])
async def test_a_frozen_graph_serves_its_sinks(tmp_path: Path, rows: int) -> None:
    write_frozen_graph(tmp_path / "frozen.pb")
    x = np.random.default_rng(rows).normal(size=(rows, 2)).astype(np.float32)
    async with loaded(TensorflowRuntime(tmp_path)) as runtime:
        assert runtime.inputs == [TensorSpec("x", "FP32", (-1, 2))]
        assert runtime.outputs == [TensorSpec("y", "FP32", (-1, 3))]
        result = await runtime.predict({"x": x})
    np.testing.assert_allclose(result["y"], expected(x), rtol=1e-5, atol=1e-6)


async def test_config_json_picks_a_frozen_graphs_outputs(tmp_path: Path) -> None:
    write_frozen_graph(tmp_path / "graph.pb")
    write_config(
        tmp_path,
        {
            "inputs": [tensor("x", "float32", [-1, 2])],
            "outputs": [tensor("xw:0", "float32", [-1, 3]), tensor("y", "float32", [-1, 3])],
        },
    )
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    async with loaded(TensorflowRuntime(tmp_path)) as runtime:
        assert [spec.name for spec in runtime.outputs] == ["xw", "y"]
        result = await runtime.predict({"x": x})
    np.testing.assert_allclose(result["xw"], x @ W)
    np.testing.assert_allclose(result["y"], expected(x))


async def test_config_json_naming_an_unknown_tensor_fails_to_load(tmp_path: Path) -> None:
    write_frozen_graph(tmp_path / "graph.pb")
    write_config(
        tmp_path,
        {"inputs": [tensor("x", "float32", [-1, 2])], "outputs": [tensor("z", "float32", [-1])]},
    )
    with pytest.raises(RuntimeFailure, match=r"config\.json names 'z', which is not in the graph"):
        await TensorflowRuntime(tmp_path).load()


async def test_a_wrong_shape_is_a_client_error(tmp_path: Path) -> None:
    write_frozen_graph(tmp_path / "frozen.pb")
    async with loaded(TensorflowRuntime(tmp_path)) as runtime:
        with pytest.raises(RuntimeFailure, match="inference failed") as caught:
            await runtime.predict({"x": np.ones((1, 5), np.float32)})
    assert caught.value.status == 400


async def test_a_package_without_a_model_fails_to_load(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing")
    with pytest.raises(RuntimeFailure, match=r"no model file \(\.pb\)"):
        await TensorflowRuntime(tmp_path).load()
