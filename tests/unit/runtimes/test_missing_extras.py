"""A runtime whose framework is not installed fails to load with an error naming the extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.serving.runtimes.base import MissingExtra, RuntimeFailure
from app.serving.runtimes.onnx import OnnxRuntime
from app.serving.runtimes.pmml import PmmlRuntime
from app.serving.runtimes.tensorflow import TensorflowRuntime
from app.serving.runtimes.torchscript import TorchscriptRuntime
from tests.unit.runtimes.builders import PMML_REGRESSION


@pytest.mark.parametrize(
    ("runtime", "module", "extra"),
    [
        (TorchscriptRuntime, "torch", "torch"),
        (TensorflowRuntime, "tensorflow", "tensorflow"),
        (PmmlRuntime, "jpmml_evaluator", "pmml"),
    ],
)
async def test_a_missing_framework_names_its_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: type, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with pytest.raises(MissingExtra) as caught:
        await runtime(tmp_path).load()
    assert caught.value.status == 501
    assert caught.value.message == (
        f"the {runtime.name} runtime needs {module}: pip install 'modelrepo[{extra}]'"
    )


async def test_missing_onnxruntime_is_a_broken_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(RuntimeFailure, match="needs onnxruntime: pip install onnxruntime"):
        await OnnxRuntime(tmp_path).load()


async def test_pmml_without_java_names_java_17(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("jpmml_evaluator")
    (tmp_path / "model.pmml").write_text(PMML_REGRESSION)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RuntimeFailure) as caught:
        await PmmlRuntime(tmp_path).load()
    assert caught.value.status == 501
    assert caught.value.message.startswith("the pmml runtime needs Java 17 or newer")
