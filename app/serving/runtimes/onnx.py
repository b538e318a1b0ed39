"""ONNX models, run by onnxruntime on the CPU.

The package's one ``.onnx`` file is loaded (with several, the one named ``model.onnx``).
Inputs and outputs are the session's: ONNX element types map to v2 datatypes, symbolic or
unknown dimensions become -1, and axis 0 is the batch. Outputs that are not tensors (e.g. the
sequence-of-maps "ZipMap" output of converted scikit-learn classifiers) are not served. The
model batches when every input's first dimension is dynamic.

Runs go to the model's own thread, except those that probe runs at load showed to be so
short that the hand-off would cost more than the run (see ``_run_cost``).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from app.serving.runtimes._run_cost import PROBE_ROWS, RunCost
from app.serving.runtimes.base import (
    DATATYPES,
    Batch,
    Runtime,
    RuntimeFailure,
    RuntimeOptions,
    TensorSpec,
    find_model_file,
)

# "tensor(<element type>)" -> v2 datatype.
ONNX_TYPES: dict[str, str] = {
    "float": "FP32",
    "double": "FP64",
    "float16": "FP16",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "bool": "BOOL",
    "string": "BYTES",
}


def tensor_spec(arg: Any) -> TensorSpec | None:
    """The spec of an onnxruntime NodeArg, or None when it is not a tensor."""
    kind: str = arg.type
    if not (kind.startswith("tensor(") and kind.endswith(")")):
        return None
    datatype = ONNX_TYPES.get(kind[len("tensor(") : -1])
    if datatype is None:
        return None
    shape = tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in arg.shape or ())
    return TensorSpec(arg.name, datatype, shape)


class OnnxRuntime(Runtime):
    name: ClassVar[str] = "onnxruntime"

    _session: Any = None
    # None: every run goes to the thread (not probed, or too slow to run inline).
    _cost: RunCost | None = None

    def __init__(self, package: Path, options: RuntimeOptions | None = None) -> None:
        super().__init__(package, options)
        # One thread per model: the default pool spreads concurrent calls over several
        # threads that only fight for the GIL (onnxruntime threads inside its own run).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx")

    async def load(self) -> None:
        try:
            import onnxruntime
        except ImportError as exc:  # a dependency of modelrepo itself, not an extra
            raise RuntimeFailure(
                "the onnxruntime runtime needs onnxruntime: pip install onnxruntime", 501
            ) from exc
        named = self.options.model_file
        path = (
            self.package / named
            if named
            else find_model_file(self.package, (".onnx",), "model.onnx")
        )
        settings = onnxruntime.SessionOptions()
        settings.intra_op_num_threads = max(1, self.options.cpu_threads)
        settings.inter_op_num_threads = 1
        settings.log_severity_level = 3  # errors only

        def create() -> Any:
            return onnxruntime.InferenceSession(
                str(path), settings, providers=["CPUExecutionProvider"]
            )

        try:
            session = await asyncio.to_thread(create)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise RuntimeFailure(f"onnxruntime cannot load {path.name}: {exc}") from exc
        inputs = [tensor_spec(arg) for arg in session.get_inputs()]
        if None in inputs:
            kinds = ", ".join(f"{arg.name}: {arg.type}" for arg in session.get_inputs())
            raise RuntimeFailure(f"the model has inputs of types that cannot be served ({kinds})")
        outputs = [spec for arg in session.get_outputs() if (spec := tensor_spec(arg))]
        if not outputs:
            raise RuntimeFailure("the model has no tensor outputs")
        self.inputs = [spec for spec in inputs if spec is not None]
        self.outputs = outputs
        self.supports_batching = all(spec.shape[:1] == (-1,) for spec in self.inputs)
        self._session = session
        loop = asyncio.get_running_loop()
        self._cost = await loop.run_in_executor(self._executor, self._probe, session)

    @property
    def loaded(self) -> bool:
        return self._session is not None

    async def infer(self, batch: Batch) -> Batch:
        session = self._session
        feeds = {spec.name: _as_input(batch[spec.name], spec.datatype) for spec in self.inputs}
        names = [spec.name for spec in self.outputs]
        cost = self._cost
        rows = _rows(feeds)
        try:
            if cost is not None and cost.inline(rows):
                values, seconds = _timed_run(session, names, feeds)
            else:
                values, seconds = await asyncio.get_running_loop().run_in_executor(
                    self._executor, _timed_run, session, names, feeds
                )
        except Exception as exc:
            status = 400 if type(exc).__name__ in ("InvalidArgument", "InvalidShape") else 500
            raise RuntimeFailure(f"inference failed: {exc}", status) from exc
        if cost is not None:
            cost.observed(rows, seconds)
        return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}

    def _probe(self, session: Any) -> RunCost | None:
        """The cost of runs on zeros (best of three after a warm-up run), or None when the
        inputs cannot be made up (strings, dynamic axes past the first), a run fails, or
        one row is already over the inline budget. Runs in the model's thread."""
        one = _zeros(self.inputs, 1)
        if one is None:
            return None
        names = [spec.name for spec in self.outputs]

        def best(feeds: dict[str, np.ndarray]) -> float:
            session.run(names, feeds)
            times = []
            for _ in range(3):
                started = time.perf_counter()
                session.run(names, feeds)
                times.append(time.perf_counter() - started)
            return min(times)

        try:
            cost = RunCost.from_probes(best(one), None)
            if not cost.inline(1):
                return None
            many = _zeros(self.inputs, PROBE_ROWS) if self.supports_batching else None
            return cost if many is None else RunCost.from_probes(cost.fixed, best(many))
        except Exception:  # the model refuses zeros: it simply never runs inline
            return None

    async def unload(self) -> None:
        self._session = None
        self._cost = None
        self._executor.shutdown(wait=False)
        await super().unload()


def _as_input(array: np.ndarray, datatype: str) -> np.ndarray:
    if datatype == "BYTES":  # onnxruntime wants str for string tensors
        decode = np.vectorize(
            lambda item: item.decode("utf-8") if isinstance(item, bytes) else str(item),
            otypes=[object],
        )
        return decode(array) if array.size else array.astype(object)
    return np.asarray(array, dtype=DATATYPES[datatype])


def _timed_run(session: Any, names: list[str], feeds: dict[str, np.ndarray]) -> tuple[Any, float]:
    started = time.perf_counter()
    values = session.run(names, feeds)
    return values, time.perf_counter() - started


def _rows(feeds: dict[str, np.ndarray]) -> int:
    for array in feeds.values():
        return int(array.shape[0]) if array.ndim else 1
    return 1


def _zeros(inputs: list[TensorSpec], rows: int) -> dict[str, np.ndarray] | None:
    """Zero inputs of ``rows`` rows (or of a fixed first dimension), or None when an input
    is a string tensor, a scalar, or has a dynamic axis past the first."""
    feeds: dict[str, np.ndarray] = {}
    for spec in inputs:
        if spec.datatype == "BYTES" or not spec.shape or -1 in spec.shape[1:]:
            return None
        first = rows if spec.shape[0] == -1 else spec.shape[0]
        feeds[spec.name] = np.zeros((first, *spec.shape[1:]), dtype=DATATYPES[spec.datatype])
    return feeds
