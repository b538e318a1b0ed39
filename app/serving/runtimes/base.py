"""The runtime contract: load a version's package, predict on named tensors, unload.

A runtime works on a *batch*: a dict from input name to a numpy array whose first axis is
the batch (rows). The data plane decodes requests into that shape using the runtime's
declared inputs (name, datatype, shape with -1 for dynamic axes) and checks them first, so
a runtime sees only well-formed batches. ``Runtime.predict`` checks what every caller (the
data plane, batch runs) needs before a runtime's own ``infer`` runs: that the model is
loaded (503) and that the batch has every declared input (400). Heavy frameworks are
imported inside ``load``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from app.packages.service_config import read_service_config
from app.sandbox import Sandbox
from app.serving.errors import ServingError

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


class RuntimeFailure(ServingError):
    """A runtime cannot load or predict. ``status`` is the HTTP status to answer with."""


class NotLoaded(RuntimeFailure):
    """A prediction asked of a runtime before ``load`` or after ``unload``."""

    def __init__(self) -> None:
        super().__init__("the model is not loaded", 503)


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
    # The package's model file when the version names one (optimized versions: the source
    # package plus the optimized file); otherwise the runtime finds it.
    model_file: str | None = None
    # Where user code runs (custom runtimes): sandboxed unless the server says otherwise.
    sandbox: Sandbox = field(default_factory=Sandbox)


class Runtime(ABC):
    """One loaded model. Subclasses are small; the name -> class table picks them."""

    name: ClassVar[str]
    # Whether the data plane may merge requests into one batch. A class default that a
    # runtime may override per model in ``load`` (e.g. a fixed batch axis, a custom config).
    supports_batching: bool = True

    def __init__(self, package: Path, options: RuntimeOptions | None = None) -> None:
        self.package = package
        self.options = options or RuntimeOptions()
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []

    @abstractmethod
    async def load(self) -> None:
        """Load the model from ``self.package`` and fill ``inputs`` / ``outputs``.
        Raises RuntimeFailure (or MissingExtra) with a clear message."""

    @property
    @abstractmethod
    def loaded(self) -> bool:
        """Whether ``load`` has succeeded and ``unload`` has not run since."""

    async def predict(self, batch: Batch) -> Batch:
        """Outputs by name, each with the same first axis as the inputs. Raises
        RuntimeFailure: 503 (NotLoaded) before ``load`` or after ``unload``, 400 when the
        batch lacks a declared input, else whatever ``infer`` raises."""
        if not self.loaded:
            raise NotLoaded()
        for spec in self.inputs:
            if spec.name not in batch:
                raise RuntimeFailure(f"the input {spec.name!r} is missing", 400)
        return await self.infer(batch)

    @abstractmethod
    async def infer(self, batch: Batch) -> Batch:
        """``predict`` on a batch with every declared input, of a loaded model. Blocking
        inference must run off the event loop (a thread or a worker process), unless it is
        shorter than the hand-off itself (see ``_run_cost``, used by the ONNX runtime)."""

    async def unload(self) -> None:
        """Release the model. The default forgets the signature; runtimes drop more."""
        self.inputs, self.outputs = [], []


def find_model_file(package: Path, suffixes: tuple[str, ...], preferred: str) -> Path:
    """The package's one model file named with ``suffixes`` (any depth, any letter case);
    with several, the shallowest one called ``preferred``. Raises RuntimeFailure."""
    from app.packages.inventory import scan

    found = scan(package)[0].named(*suffixes)
    if len(found) == 1:
        return package / found[0]
    named = sorted((n.count("/"), n) for n in found if n.rsplit("/", 1)[-1] == preferred)
    if len(named) == 1 or (len(named) > 1 and named[0][0] < named[1][0]):
        return package / named[0][1]
    if not found:
        raise RuntimeFailure(f"no model file ({', '.join(suffixes)}) in the package")
    raise RuntimeFailure(f"several model files and no single {preferred}: {', '.join(found)}")


# config.json (app.packages.service_config) tensor types -> v2 datatypes. An ``image`` input
# arrives as the encoded file's bytes (nothing decodes it before the model's preprocess).
CONFIG_TYPES = {"float32": "FP32", "float64": "FP64", "int32": "INT32", "int64": "INT64"}
CONFIG_TYPES |= {"bool": "BOOL", "string": "BYTES", "bytes": "BYTES", "image": "BYTES"}


@dataclass(frozen=True)
class ServiceConfig:
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    batch: dict[str, int] | None
    network: bool = False


def read_config(package: Path) -> ServiceConfig | None:
    """The package's ``config.json`` as tensor specs (None when absent); RuntimeFailure when
    invalid."""
    path = package / "config.json"
    if not path.is_file():
        return None
    document, problems = read_service_config(path)
    if problems:
        raise RuntimeFailure(f"config.json is invalid: {'; '.join(problems)}")

    def specs(key: str) -> list[TensorSpec]:
        return [
            TensorSpec(t["name"], CONFIG_TYPES[t["type"]], tuple(t["shape"])) for t in document[key]
        ]

    batch, network = document.get("batch"), document.get("network", False)
    return ServiceConfig(specs("inputs"), specs("outputs"), batch, network)
