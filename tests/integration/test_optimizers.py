"""The TorchScript and PyTorch optimizers on tiny models built here: each writes a model that
loads and answers like the source, with a report; a wrong example input is refused."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from app.optimize.pipeline import optimize, preflight
from app.optimize.pytorch_export import ExportFailed
from app.optimize.runners import onnx_runner, torchscript_runner
from domain.errors import ValidationError
from tests.unit.package_builders import torch_net_files

torch = pytest.importorskip("torch")

OPTIONS = {"samples": 4, "repeats": 2}
EXAMPLE = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).round(3).tolist()


class Cnn(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.norm(self.conv(x))).mean(dim=(2, 3)))


def torchscript_package(root: Path) -> Path:
    torch.manual_seed(0)
    root.mkdir()
    with warnings.catch_warnings():  # TorchScript is the format under test
        warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
        traced = torch.jit.trace(Cnn().eval(), torch.zeros(1, 3, 8, 8))
        torch.jit.save(traced, str(root / "model.pt"))
    return root


async def _log(message: str, progress: float) -> None:
    assert 0 <= progress <= 1 and message


@pytest.mark.parametrize("method", ["TORCHSCRIPT_FREEZE", "TORCHSCRIPT_OPTIMIZE_FOR_INFERENCE"])
async def test_torchscript_methods_keep_the_answers(tmp_path: Path, method: str) -> None:
    package = torchscript_package(tmp_path / "package")
    work = tmp_path / "work"
    work.mkdir()
    options = {**OPTIONS, "example_input": EXAMPLE}
    outcome = await optimize(package, "TORCHSCRIPT", None, [method], options, work, _log)
    report = outcome.report
    assert report["samples"] == 4 and report["batch_size"] == 2 and report["input"] == "given"
    assert report["max_abs_diff"] < 1e-4 and report["top1_agreement"] == 1.0
    x = np.asarray(EXAMPLE, dtype=np.float32)
    before = torchscript_runner(package / "model.pt")({"x": x})["output__0"]
    after = torchscript_runner(outcome.model_file)({"x": x})["output__0"]
    np.testing.assert_allclose(before, after, atol=1e-4)


def test_a_wrong_example_is_refused_by_the_torchscript_model(tmp_path: Path) -> None:
    package = torchscript_package(tmp_path / "package")
    with pytest.raises(ValidationError) as caught:
        preflight(package, "TORCHSCRIPT", None, [[1.0, 2.0]])
    assert caught.value.field == "exampleInput" and "rejects" in caught.value.message


def pytorch_package(root: Path) -> Path:
    root.mkdir()
    for name, data in torch_net_files().items():
        (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize("method", ["PYTORCH_EXPORT_ONNX", "PYTORCH_EXPORT_TORCHSCRIPT"])
async def test_pytorch_models_export_in_their_own_process(tmp_path: Path, method: str) -> None:
    package = pytorch_package(tmp_path / "package")
    work = tmp_path / "work"
    work.mkdir()
    example = {"x": np.random.default_rng(2).normal(size=(4, 6)).tolist()}
    options = {**OPTIONS, "example_input": example}
    outcome = await optimize(package, "PYTORCH", None, [method], options, work, _log)
    assert outcome.report["max_abs_diff"] < 1e-5 and outcome.report["top1_agreement"] == 1.0
    x = {"x": np.asarray(example["x"], dtype=np.float32)}
    if method == "PYTORCH_EXPORT_ONNX":
        answer = onnx_runner(outcome.model_file)(x)["output__0"]
    else:
        answer = torchscript_runner(outcome.model_file)(x)["output__0"]
    assert answer.shape == (4, 3)
    np.testing.assert_allclose(answer.sum(axis=1), 1.0, atol=1e-5)


async def test_a_wrong_example_fails_the_export_with_the_reason(tmp_path: Path) -> None:
    package = pytorch_package(tmp_path / "package")
    work = tmp_path / "work"
    work.mkdir()
    options = {**OPTIONS, "example_input": {"x": [[1.0, 2.0]]}}
    with pytest.raises(ExportFailed, match="does not fit the model"):
        await optimize(package, "PYTORCH", None, ["PYTORCH_EXPORT_ONNX"], options, work, _log)
