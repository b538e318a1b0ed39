"""ONNX models, run by onnxruntime on the CPU.

The package's one ``.onnx`` file is loaded (with several, the one named ``model.onnx``).
Inputs and outputs are the session's: ONNX element types map to v2 datatypes, symbolic or
unknown dimensions become -1, and axis 0 is the batch. Outputs that are not tensors (e.g. the
sequence-of-maps "ZipMap" output of converted scikit-learn classifiers) are not served. The
model batches when every input's first dimension is dynamic.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

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

    async def predict(self, batch: Batch) -> Batch:
        session = self._session
        if session is None:
            raise RuntimeFailure("the model is not loaded", 503)
        feeds: dict[str, np.ndarray] = {}
        for spec in self.inputs:
            if spec.name not in batch:
                raise RuntimeFailure(f"the input {spec.name!r} is missing", 400)
            feeds[spec.name] = _as_input(batch[spec.name], spec.datatype)
        names = [spec.name for spec in self.outputs]
        try:
            values = await asyncio.get_running_loop().run_in_executor(
                self._executor, session.run, names, feeds
            )
        except Exception as exc:
            status = 400 if type(exc).__name__ in ("InvalidArgument", "InvalidShape") else 500
            raise RuntimeFailure(f"inference failed: {exc}", status) from exc
        return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}

    async def unload(self) -> None:
        self._session = None
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
