"""The runtime name -> class table and the one function the data plane calls to get a runtime.

Names are those of :mod:`domain.formats`. Importing this module imports no framework: each
runtime imports its own (onnxruntime, torch, tensorflow, jpmml_evaluator) inside ``load``.
"""

from __future__ import annotations

from pathlib import Path

from app.serving.runtimes.base import Runtime, RuntimeFailure, RuntimeOptions
from app.serving.runtimes.custom import CustomRuntime
from app.serving.runtimes.onnx import OnnxRuntime
from app.serving.runtimes.pmml import PmmlRuntime
from app.serving.runtimes.tensorflow import TensorflowRuntime
from app.serving.runtimes.torchscript import TorchscriptRuntime
from domain.formats import CUSTOM_RUNTIME, IMAGE_PREFIX

RUNTIMES: dict[str, type[Runtime]] = {
    OnnxRuntime.name: OnnxRuntime,
    TorchscriptRuntime.name: TorchscriptRuntime,
    PmmlRuntime.name: PmmlRuntime,
    TensorflowRuntime.name: TensorflowRuntime,
    CUSTOM_RUNTIME: CustomRuntime,
}


def runtime_for(name: str, package: Path, options: RuntimeOptions | None = None) -> Runtime:
    """A runtime, not yet loaded, for the package folder ``package``."""
    if name.startswith(IMAGE_PREFIX):
        raise RuntimeFailure(
            f"the runtime {name!r} is a container image: container images are recorded and "
            "exported but not run on a single machine",
            400,
        )
    runtime = RUNTIMES.get(name)
    if runtime is None:
        known = ", ".join(sorted(RUNTIMES))
        raise RuntimeFailure(f"unknown runtime {name!r} (known: {known})", 400)
    return runtime(package, options)
