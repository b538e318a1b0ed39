"""The Open Inference Protocol (KServe v2 / Triton) JSON form: infer and metadata.

Tensors travel as ``{"name", "shape", "datatype", "data"}`` with ``data`` flat in row-major
order (nested lists are accepted too). Only the JSON form is supported: the binary tensor
extension (``binary_data_size``) is refused with a 400. BYTES data are strings; in
answers, bytes that are not UTF-8 are sent as base64 strings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.serving._codec_tensors import (
    ProtocolError,
    check_shape,
    datatype_of,
    format_shape,
    to_array,
    to_json,
)
from app.serving.runtimes.base import DATATYPES, Batch, TensorSpec


def decode_v2(payload: Any, inputs: list[TensorSpec], *, max_rows: int) -> Batch:
    """The infer request's tensors as a batch checked against ``inputs``. Raises
    ProtocolError: 400 malformed or not matching the model, 413 more than ``max_rows`` rows."""
    if not isinstance(payload, dict):
        raise ProtocolError('the request must be a JSON object with "inputs"')
    if "id" in payload and not isinstance(payload["id"], str):
        raise ProtocolError('"id" must be a string')
    requested_outputs(payload)  # validated here so that a bad request fails as a whole
    tensors = payload.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise ProtocolError('"inputs" must be a non-empty list of tensors')
    specs = {spec.name: spec for spec in inputs}
    batch: Batch = {}
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, dict):
            raise ProtocolError(
                f"inputs[{index}] must be an object with name, shape, datatype and data"
            )
        name = tensor.get("name")
        if not isinstance(name, str):
            raise ProtocolError(f'inputs[{index}] needs a "name" string')
        spec = specs.get(name)
        if spec is None:
            known = ", ".join(f"'{known}'" for known in specs)
            raise ProtocolError(f"unknown input '{name}' (the model's inputs: {known})")
        if name in batch:
            raise ProtocolError(f"input '{name}' is given twice")
        batch[name] = _decode_tensor(spec, tensor, max_rows)
    missing = [name for name in specs if name not in batch]
    if missing:
        raise ProtocolError("missing inputs " + ", ".join(f"'{name}'" for name in missing))
    counts = {name: len(array) for name, array in batch.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"'{name}' has {count}" for name, count in counts.items())
        raise ProtocolError(f"the inputs have different numbers of rows: {listed}")
    return batch


def _decode_tensor(spec: TensorSpec, tensor: dict[str, Any], max_rows: int) -> np.ndarray:
    name = spec.name
    shape = tensor.get("shape")
    if not (
        isinstance(shape, list)
        and all(isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0 for dim in shape)
    ):
        raise ProtocolError(f"input '{name}' needs \"shape\": a list of non-negative integers")
    datatype = tensor.get("datatype")
    if datatype != spec.datatype:
        hint = "" if datatype in DATATYPES else f" (datatypes: {', '.join(DATATYPES)})"
        raise ProtocolError(f"input '{name}' has datatype {spec.datatype}, got {datatype!r}{hint}")
    parameters = tensor.get("parameters")
    if isinstance(parameters, dict) and "binary_data_size" in parameters:
        raise ProtocolError(f"input '{name}': binary tensor data is not supported, send JSON data")
    if "data" not in tensor:
        raise ProtocolError(f"input '{name}' has no \"data\"")
    data = tensor["data"]
    if not isinstance(data, list):
        raise ProtocolError(f"input '{name}' needs \"data\" as a list")
    if not shape or shape[0] == 0:
        raise ProtocolError(
            f"input '{name}' has shape {format_shape(shape)}: the first axis is the batch and "
            "needs at least one row"
        )
    if shape[0] > max_rows:
        raise ProtocolError(
            f"input '{name}' has {shape[0]} rows, over the limit of {max_rows} rows per request",
            413,
        )
    # Checked before converting so that a huge declared shape is refused cheaply.
    expected = math.prod(shape)
    nested = bool(data) and isinstance(data[0], list)
    if not nested and len(data) != expected:
        raise _count_error(name, shape, expected, len(data))
    array = to_array(spec, data)
    if array.size != expected:
        raise _count_error(name, shape, expected, array.size)
    return check_shape(spec, array.reshape(shape))


def _count_error(name: str, shape: list[int], expected: int, got: int) -> ProtocolError:
    return ProtocolError(
        f"input '{name}' has shape {format_shape(shape)} ({expected} values), "
        f'but "data" holds {got}'
    )


def requested_outputs(payload: Any) -> list[str] | None:
    """The output names an infer request asks for, or None for all. Raises ProtocolError."""
    outputs = payload.get("outputs") if isinstance(payload, dict) else None
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in outputs
    ):
        raise ProtocolError('"outputs" must be a list of objects with a "name"')
    return [item["name"] for item in outputs]


def encode_v2(
    model_name: str, model_version: str, outputs: Batch, *, id: str | None
) -> dict[str, Any]:
    """The infer response: each output with its shape, datatype and flat row-major data.
    Non-finite floats become null. Raises ProtocolError (500) for dtypes JSON cannot carry."""
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if id is not None:
        response["id"] = id
    response["outputs"] = [
        {
            "name": name,
            "shape": list(array.shape),
            "datatype": datatype_of(name, array),
            "data": to_json(name, array.reshape(-1), b64_objects=False),
        }
        for name, array in outputs.items()
    ]
    return response


def metadata_v2(
    name: str,
    versions: Sequence[str],
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    platform: str,
) -> dict[str, Any]:
    """The model metadata response (``GET /v2/models/{name}``)."""
    return {
        "name": name,
        "versions": list(versions),
        "platform": platform,
        "inputs": [_tensor_metadata(spec) for spec in inputs],
        "outputs": [_tensor_metadata(spec) for spec in outputs],
    }


def _tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}
