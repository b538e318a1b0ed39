"""The runtime contract: load a version's package, predict on named tensors, unload.

A runtime works on a *batch*: a dict from input name to a numpy array whose first axis is
the batch (rows). The data plane decodes requests into that shape using the runtime's
declared inputs (name, datatype, shape with -1 for dynamic axes) and checks them first, so
a runtime sees only well-formed batches. Heavy frameworks are imported inside ``load``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

Batch = dict[str, np.ndarray]

# Open Inference Protocol (v2) datatypes and their numpy equivalents.
DATATYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    datatype: str  # a key of DATATYPES
    shape: tuple[int, ...]  # including the batch axis; -1 = any size


class RuntimeFailure(Exception):
    """A runtime cannot load or predict. ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class MissingExtra(RuntimeFailure):
    """The framework a runtime needs is not installed."""

    def __init__(self, runtime: str, extra: str, module: str) -> None:
        super().__init__(
            f"the {runtime} runtime needs {module}: pip install 'modelrepo[{extra}]'", 501
        )


@dataclass
class RuntimeOptions:
    """Per-deployment settings passed to a runtime."""

    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    cpu_threads: int = 1
    memory_limit_mb: int | None = None
    timeout_seconds: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)


class Runtime(ABC):
    """One loaded model. Subclasses are small; the name -> class table picks them."""

    name: ClassVar[str]
    supports_batching: ClassVar[bool] = True

    def __init__(self, package: Path, options: RuntimeOptions | None = None) -> None:
        self.package = package
        self.options = options or RuntimeOptions()
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []

    @abstractmethod
    async def load(self) -> None:
        """Load the model from ``self.package`` and fill ``inputs`` / ``outputs``.
        Raises RuntimeFailure (or MissingExtra) with a clear message."""

    @abstractmethod
    async def predict(self, batch: Batch) -> Batch:
        """Outputs by name, each with the same first axis as the inputs. Blocking
        inference must run off the event loop (a thread or a worker process)."""

    async def unload(self) -> None:
        """Release the model. The default forgets the signature; runtimes drop more."""
        self.inputs, self.outputs = [], []
