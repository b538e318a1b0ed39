"""Blocking callables that run one model file on a sample, for measuring (in a thread)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.optimize.inputs import Sample
from app.serving.runtimes.base import TensorSpec
from app.serving.runtimes.onnx import tensor_spec

Outputs = dict[str, np.ndarray]
Runner = Callable[[Sample], Outputs]


def onnx_session(path: Path, threads: int = 1) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_inputs(session: Any) -> list[TensorSpec]:
    return [spec for arg in session.get_inputs() if (spec := tensor_spec(arg)) is not None]


def onnx_runner(path: Path, threads: int = 1) -> Runner:
    session = onnx_session(path, threads)
    names = [arg.name for arg in session.get_outputs()]

    def run(sample: Sample) -> Outputs:
        values = session.run(names, sample)
        return {name: np.asarray(v) for name, v in zip(names, values, strict=True)}

    return run


def torchscript_runner(path: Path) -> Runner:
    import torch

    warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is deprecated", DeprecationWarning)
    module = torch.jit.load(str(path), map_location="cpu").eval()  # type: ignore[no-untyped-call]

    def run(sample: Sample) -> Outputs:
        with torch.inference_mode():
            result = module(*(torch.from_numpy(np.ascontiguousarray(a)) for a in sample.values()))
        return torch_outputs(result)

    return run


def torch_outputs(result: Any) -> Outputs:
    """Outputs named as the TorchScript runtime names them: ``output__0``, ... (or by key)."""
    if isinstance(result, dict):
        return {str(k): v.detach().numpy() for k, v in result.items()}
    if isinstance(result, tuple | list):
        return {f"output__{i}": v.detach().numpy() for i, v in enumerate(result)}
    return {"output__0": result.detach().numpy()}
