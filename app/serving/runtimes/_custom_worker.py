"""The custom runtime's worker process, and the wire format both sides speak.

:mod:`.custom` runs this file by path in a sandbox with ``SETTINGS_JSON`` (it needs only the
standard library and numpy), after ``app.sandbox``'s launcher has set the process limits. It
caps its CPU time, builds the model of ``model_service.py`` and answers one request at a time
on its original stdin/stdout (user code gets an empty stdin; its stdout goes to stderr).

Frame: ``>IQ`` (header and body lengths), a JSON header, raw array bytes. The header lists
each array: numbers as dtype/shape/offset into the body, strings as JSON items, bytes as
base64 items. Nothing is pickled, so a worker cannot make the server run code.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import json
import math
import os
import resource
import struct
import sys
import traceback
from typing import Any, BinaryIO

import numpy as np

HEAD = struct.Struct(">IQ")
MAX_HEADER = 256 * 1024 * 1024
NUMERIC = frozenset(f"{kind}{bits}" for kind in ("int", "uint") for bits in (8, 16, 32, 64))
NUMERIC |= {"bool", "float16", "float32", "float64"}


class WireError(ValueError):
    """A frame that does not follow the format."""


def encode(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    """One frame: ``header`` plus ``arrays`` (numpy arrays or anything np.asarray takes)."""
    entries: list[dict[str, Any]] = []
    body: list[bytes] = []
    offset = 0
    for name, value in arrays.items():
        array = np.asarray(value)
        entry: dict[str, Any] = {"name": str(name), "shape": list(array.shape)}
        items = [] if array.dtype.name in NUMERIC else array.ravel().tolist()
        if array.dtype.name in NUMERIC:
            body.append(np.ascontiguousarray(array, dtype=array.dtype.name).tobytes())
            entry.update(dtype=array.dtype.name, offset=offset)
            offset += len(body[-1])
        elif all(item is None or isinstance(item, str) for item in items):
            entry["str"] = items
        elif all(item is None or isinstance(item, bytes | str) for item in items):
            raw = [i.encode() if isinstance(i, str) else i for i in items]  # str as UTF-8
            entry["bytes"] = [None if i is None else base64.b64encode(i).decode() for i in raw]
        else:
            raise WireError(f"{name!r}: cannot send values of type {array.dtype}")
        entries.append(entry)
    text = json.dumps({**header, "arrays": entries}).encode()
    return HEAD.pack(len(text), offset) + text + b"".join(body)


def decode(text: bytes, body: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a frame; raises WireError on anything malformed."""
    try:
        header = json.loads(text)
    except ValueError as exc:
        raise WireError(f"the header is not JSON: {exc}") from None
    entries = header.pop("arrays", []) if isinstance(header, dict) else None
    if not isinstance(entries, list):
        raise WireError("the header is not an object with a list of arrays")
    arrays: dict[str, np.ndarray] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise WireError("an array has no name")
        arrays[entry["name"]] = _array(entry, body)
    return header, arrays


def _array(entry: dict[str, Any], body: bytes) -> np.ndarray:
    name, shape = entry["name"], entry.get("shape", ())
    listed = isinstance(shape, list) and len(shape) <= 32
    if not (listed and all(type(n) is int and n >= 0 for n in shape)):  # no bool, no -1
        raise WireError(f"{name!r}: bad shape")
    count = math.prod(shape)
    if "dtype" in entry:
        dtype, offset = entry["dtype"], entry.get("offset")
        if dtype not in NUMERIC or not isinstance(offset, int) or offset < 0:
            raise WireError(f"{name!r}: bad dtype or offset")
        if offset + count * np.dtype(dtype).itemsize > len(body):
            raise WireError(f"{name!r}: the body is too short")
        return np.frombuffer(body, dtype, count, offset).reshape(shape).copy()
    kind = "str" if "str" in entry else "bytes"
    items = entry.get(kind)
    if not isinstance(items, list) or len(items) != count:
        raise WireError(f"{name!r}: expected {count} items")
    if not all(item is None or isinstance(item, str) for item in items):
        raise WireError(f"{name!r}: items must be strings")
    try:
        if kind == "bytes":
            items = [None if i is None else base64.b64decode(i, validate=True) for i in items]
    except ValueError:  # binascii.Error
        raise WireError(f"{name!r}: items must be base64") from None
    result = np.empty(count, dtype=object)
    result[:] = items
    return result.reshape(shape)


def read_frame(stream: BinaryIO) -> tuple[bytes, bytes] | None:
    if not (head := stream.read(HEAD.size)):
        return None
    sizes = HEAD.unpack(head)
    text, body = stream.read(sizes[0]), stream.read(sizes[1])
    if (len(text), len(body)) != sizes:
        raise EOFError("the frame is cut short")
    return text, body


# --- the worker --------------------------------------------------------------------------


def _limit_cpu(seconds: float) -> None:
    """Let the process use ``seconds`` more CPU time (all threads) before SIGXCPU ends it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _build(model_dir: str) -> Any:
    # model_service.py is on PYTHONPATH (the package), so a plain import finds it.
    module = importlib.import_module("model_service")
    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and value.__module__ == "model_service"
        if callable(getattr(value, "predict", None))
    ]
    if not classes:
        raise TypeError("model_service.py defines no class with a predict method")
    cls: Any = classes[0]
    model = cls(model_dir) if inspect.signature(cls).parameters else cls()
    load = getattr(model, "load", None)
    if callable(load):
        load(*([model_dir] if inspect.signature(load).parameters else []))
    return model


def _serve(model: Any, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, Any]:
    data = model.preprocess(inputs) if hasattr(model, "preprocess") else inputs
    result = model.predict(data)
    result = model.postprocess(result) if hasattr(model, "postprocess") else result
    if isinstance(result, dict):
        return result
    if len(outputs) != 1:
        raise TypeError("predict/postprocess must return a dict of outputs by name")
    return {outputs[0]: result}


def main(argv: list[str]) -> int:
    settings = json.loads(argv[1])
    # The protocol keeps the original pipes; user code's stdin is empty, its stdout is stderr.
    requests, answers = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    _limit_cpu(settings["load_cpu_seconds"])
    try:
        model, frame = _build(settings["model_dir"]), encode({"ok": True}, {})
    except BaseException as exc:  # user code may even call sys.exit
        answers.write(_error(exc))
        answers.flush()
        return 1
    while True:
        answers.write(frame)
        answers.flush()
        if (request := read_frame(requests)) is None:
            return 0
        _limit_cpu(settings["cpu_seconds"])
        try:
            frame = encode({"ok": True}, _serve(model, decode(*request)[1], settings["outputs"]))
        except BaseException as exc:
            frame = _error(exc)


def _error(exc: BaseException) -> bytes:
    traceback.print_exc()
    return encode({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}, {})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
