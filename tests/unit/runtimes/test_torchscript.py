"""The TorchScript runtime on tiny traced modules with fixed weights."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.serving.runtimes.base import RuntimeFailure, RuntimeOptions, TensorSpec
from app.serving.runtimes.torchscript import TorchscriptRuntime
from tests.unit.runtimes.builders import B, W, expected, loaded, tensor, write_config

torch = pytest.importorskip("torch")


def linear() -> Any:
    module = torch.nn.Linear(2, 3)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(W.T.copy()))
        module.bias.copy_(torch.from_numpy(B))
    return module


class TwoHeads(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.linear = linear()

    def forward(self, x: Any, scale: Any) -> tuple[Any, Any]:
        y = self.linear(x) * scale
        return y, y.sum(dim=1)


def save(module: Any, path: Path, *example: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
        torch.jit.save(torch.jit.trace(module, example), str(path))


@pytest.mark.parametrize("rows", [1, 64])
async def test_default_names_and_known_values(tmp_path: Path, rows: int) -> None:
    save(linear(), tmp_path / "model.pt", torch.zeros(1, 2))
    x = np.random.default_rng(rows).normal(size=(rows, 2)).astype(np.float32)
    async with loaded(TorchscriptRuntime(tmp_path, RuntimeOptions(cpu_threads=1))) as runtime:
        assert runtime.inputs == [TensorSpec("input__0", "FP32", (-1, -1))]
        assert runtime.outputs == [TensorSpec("output__0", "FP32", (-1, -1))]
        result = await runtime.predict({"input__0": x})
    np.testing.assert_allclose(result["output__0"], expected(x), rtol=1e-5, atol=1e-6)
    assert result["output__0"].dtype == np.float32


async def test_config_json_names_inputs_and_outputs(tmp_path: Path) -> None:
    save(TwoHeads(), tmp_path / "heads.pt", torch.zeros(1, 2), torch.ones(1, 1))
    write_config(
        tmp_path,
        {
            "inputs": [tensor("x", "float32", [-1, 2]), tensor("scale", "float32", [-1, 1])],
            "outputs": [tensor("y", "float32", [-1, 3]), tensor("total", "float32", [-1])],
        },
    )
    x = np.array([[1.0, 2.0], [0.0, -1.0]], dtype=np.float32)
    scale = np.array([[2.0], [1.0]], dtype=np.float32)
    scale.flags.writeable = False  # torch.from_numpy warns on these; the runtime copies
    async with loaded(TorchscriptRuntime(tmp_path)) as runtime:
        assert [spec.name for spec in runtime.inputs] == ["x", "scale"]
        result = await runtime.predict({"x": x, "scale": scale})
    np.testing.assert_allclose(result["y"], expected(x) * scale, rtol=1e-5)
    np.testing.assert_allclose(result["total"], (expected(x) * scale).sum(axis=1), rtol=1e-5)


async def test_a_checkpoint_is_not_torchscript(tmp_path: Path) -> None:
    torch.save(linear().state_dict(), tmp_path / "model.pt")
    with pytest.raises(RuntimeFailure, match=r"one TorchScript archive \(none\)"):
        await TorchscriptRuntime(tmp_path).load()


async def test_model_pt_is_preferred_among_several_archives(tmp_path: Path) -> None:
    save(linear(), tmp_path / "model.pt", torch.zeros(1, 2))
    save(linear(), tmp_path / "other.pt", torch.zeros(1, 2))
    async with loaded(TorchscriptRuntime(tmp_path)) as runtime:
        result = await runtime.predict({"input__0": np.ones((1, 2), np.float32)})
    np.testing.assert_allclose(result["output__0"], expected(np.ones((1, 2))), rtol=1e-6)


async def test_a_wrong_shape_is_a_client_error(tmp_path: Path) -> None:
    save(linear(), tmp_path / "model.pt", torch.zeros(1, 2))
    async with loaded(TorchscriptRuntime(tmp_path)) as runtime:
        with pytest.raises(RuntimeFailure, match="inference failed") as caught:
            await runtime.predict({"input__0": np.ones((1, 5), np.float32)})
    assert caught.value.status == 400
