"""PMML models, run by JPMML-Evaluator in a JVM (Java 17+) through py4j.

Each loaded model has its own JVM gateway process, started by ``load`` and ended by
``unload``. Inputs are the model's input fields, each one column of shape [-1]: double and
float fields are FP64, integer INT64, boolean BOOL, everything else (categorical strings,
dates) BYTES; a NaN or None is a missing value. Outputs are the target fields and then the
output fields (e.g. probabilities), numbers as FP64 (missing = NaN), others BYTES. A row the
model rejects (e.g. an unknown category) fails the request with 400 naming the row.

jpmml-evaluator hands results over as pickles made by the JVM; they are read with an
unpickler that resolves no global, so they can only ever be plain values.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import pickle
import shutil
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from app.serving.runtimes.base import (
    Batch,
    MissingExtra,
    Runtime,
    RuntimeFailure,
    RuntimeOptions,
    TensorSpec,
    find_model_file,
)

INPUT_TYPES = {"double": "FP64", "float": "FP64", "integer": "INT64", "boolean": "BOOL"}
NUMBERS = ("double", "float", "integer")
_CASTS: dict[str, Any] = {"FP64": float, "INT64": int, "BOOL": bool}
# Unloads of runtimes whose load was cancelled while its thread started the JVM.
_ABANDONED: set[asyncio.Task[None]] = set()
NEEDS_JAVA = (
    "the pmml runtime needs Java 17 or newer: install a JRE (e.g. openjdk-17-jre-headless) "
    "and put java on PATH or set JAVA_HOME"
)


class _PlainValues(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the result names {module}.{name}; only values are read")


def _plain_loads(data: bytes) -> Any:
    return _PlainValues(io.BytesIO(bytes(data))).load()


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise RuntimeFailure(NEEDS_JAVA, 501)
    return java


def _java_error(exc: Exception) -> str:
    """The innermost Java exception behind ``exc``, or its first line."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    try:
        cause = exc.java_exception  # type: ignore[attr-defined]
        while cause.getCause() is not None:
            cause = cause.getCause()
        text = str(cause.toString())
    except Exception:  # not a Java error, or the JVM is gone
        pass
    if "UnsupportedClassVersionError" in text:
        return f"{NEEDS_JAVA} ({text})"
    return text


class PmmlRuntime(Runtime):
    name: ClassVar[str] = "pmml"

    def __init__(self, package: Path, options: RuntimeOptions | None = None) -> None:
        super().__init__(package, options)
        self._gateway: Any = None
        self._backend: Any = None
        self._evaluator: Any = None

    async def load(self) -> None:
        try:
            import jpmml_evaluator  # noqa: F401
            import py4j  # noqa: F401
        except ImportError as exc:
            raise MissingExtra(self.name, "pmml", "jpmml_evaluator") from exc
        java = _java()
        path = find_model_file(self.package, (".pmml", ".xml"), "model.pmml")
        starting = asyncio.ensure_future(asyncio.to_thread(self._start, java, path))
        try:
            await asyncio.shield(starting)
        except asyncio.CancelledError:
            # The thread cannot be stopped and may yet start the JVM: end it after.
            starting.add_done_callback(self._unload_abandoned)
            raise
        except Exception as exc:
            known = isinstance(exc, RuntimeFailure)
            message = "" if known else f"cannot load {path.name}: {_java_error(exc)}"
            await self.unload()  # read the JVM's error first: this ends it
            if known:
                raise
            raise RuntimeFailure(message) from exc

    def _start(self, java: str, path: Path) -> None:
        from jpmml_evaluator import _classpath, make_evaluator
        from jpmml_evaluator.py4j import Py4JBackend
        from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway

        options = [f"-XX:ActiveProcessorCount={max(1, self.options.cpu_threads)}"]
        if self.options.memory_limit_mb:
            options.append(f"-Xmx{self.options.memory_limit_mb}m")
        port, token, process = launch_gateway(
            classpath=os.pathsep.join(_classpath([])),
            javaopts=options,
            java_path=java,
            die_on_exit=True,  # the JVM ends when this process does
            enable_auth=True,
            return_proc=True,
        )
        parameters = GatewayParameters(port=port, auth_token=token)
        self._gateway = JavaGateway(gateway_parameters=parameters, java_process=process)
        self._backend = Py4JBackend(self._gateway)
        self._backend.loads = _plain_loads
        evaluator = make_evaluator(str(path), backend=self._backend).verify()
        self.inputs = [
            TensorSpec(field.name, INPUT_TYPES.get(field.dataType, "BYTES"), (-1,))
            for field in evaluator.getInputFields()
        ]
        self.outputs = [
            TensorSpec(field.name, "FP64" if field.dataType in NUMBERS else "BYTES", (-1,))
            for field in evaluator.getTargetFields() + evaluator.getOutputFields()
        ]
        self._evaluator = evaluator

    @property
    def loaded(self) -> bool:
        return self._evaluator is not None

    async def infer(self, batch: Batch) -> Batch:
        data = [
            [_value(item, spec.datatype) for item in batch[spec.name].ravel()]
            for spec in self.inputs
        ]
        arguments = {"columns": [spec.name for spec in self.inputs], "data": data}
        try:
            results = await asyncio.to_thread(self._evaluate, arguments)
        except Exception as exc:
            raise RuntimeFailure(f"inference failed: {_java_error(exc)}") from exc
        for row, error in enumerate(results["errors"] or ()):
            if error is not None:
                raise RuntimeFailure(f"row {row}: {str(error).rsplit('Exception: ', 1)[-1]}", 400)
        columns = dict(zip(results["columns"], results["data"], strict=True))
        return {spec.name: _column(columns.get(spec.name), spec.datatype) for spec in self.outputs}

    def _evaluate(self, arguments: dict[str, Any]) -> Any:
        from jpmml_evaluator import PythonEvaluatorUtil

        threads = max(1, self.options.cpu_threads)
        evaluator = self._evaluator.javaEvaluator
        return PythonEvaluatorUtil.evaluateAll(self._backend, evaluator, arguments, None, threads)

    def _unload_abandoned(self, _starting: asyncio.Future[None]) -> None:
        task = asyncio.ensure_future(self.unload())
        _ABANDONED.add(task)
        task.add_done_callback(_ABANDONED.discard)

    async def unload(self) -> None:
        gateway, self._gateway, self._evaluator, self._backend = self._gateway, None, None, None
        if gateway is not None:
            await asyncio.to_thread(_shutdown, gateway)
        await super().unload()


def _shutdown(gateway: Any) -> None:
    process: subprocess.Popen[bytes] = gateway.java_process
    gateway.shutdown()
    if process.stdin is not None:
        process.stdin.close()  # with die_on_exit, the JVM ends on this
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _value(item: Any, datatype: str) -> Any:
    if item is None or (isinstance(item, float | np.floating) and math.isnan(item)):
        return None  # missing
    if cast := _CASTS.get(datatype):
        return cast(item)
    return item.decode("utf-8") if isinstance(item, bytes) else str(item)


def _column(values: list[Any] | None, datatype: str) -> np.ndarray:
    if values is None:
        raise RuntimeFailure("the model returned no value for an output")
    if datatype == "FP64":
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column
