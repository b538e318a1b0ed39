"""The name -> runtime table: every runtime name of the domain, images refused, lazy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.serving.runtimes.base import RuntimeFailure, RuntimeOptions
from app.serving.runtimes.custom import CustomRuntime
from app.serving.runtimes.onnx import OnnxRuntime
from app.serving.runtimes.registry import RUNTIMES, runtime_for
from domain.formats import BUILTIN_RUNTIME, CUSTOM_RUNTIME


def test_every_runtime_name_of_the_domain_has_a_class() -> None:
    assert set(RUNTIMES) == {*BUILTIN_RUNTIME.values(), CUSTOM_RUNTIME}
    assert all(cls.name == name for name, cls in RUNTIMES.items())


def test_runtime_for_builds_an_unloaded_runtime(tmp_path: Path) -> None:
    options = RuntimeOptions(cpu_threads=2)
    runtime = runtime_for("onnxruntime", tmp_path, options)
    assert isinstance(runtime, OnnxRuntime)
    assert runtime.package == tmp_path
    assert runtime.options is options
    assert isinstance(runtime_for("custom", tmp_path), CustomRuntime)


def test_an_image_runtime_is_not_run(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure) as caught:
        runtime_for("image:registry.example/model:1", tmp_path)
    assert caught.value.status == 400
    assert "container images are recorded and exported but not run" in caught.value.message


def test_an_unknown_runtime_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure) as caught:
        runtime_for("triton", tmp_path)
    assert caught.value.status == 400
    assert caught.value.message.startswith("unknown runtime 'triton' (known: custom, ")


def test_importing_the_registry_imports_no_framework() -> None:
    frameworks = ("torch", "tensorflow", "onnxruntime", "jpmml_evaluator", "py4j")
    code = (
        "import sys, app.serving.runtimes.registry\n"
        f"print(sorted(m for m in {frameworks!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
