"""The TensorFlow Serving / KServe v1 JSON protocol (``POST /v1/models/{m}:predict``).

Requests come in two formats, and the answer mirrors the one used:

- *row* — ``{"instances": [row, ...]}``. For a single-input model a row is that input's
  value for one example; for any model a row may be an object mapping input names to
  values. Answer: ``{"predictions": [row, ...]}``.
- *columnar* — ``{"inputs": column}`` for a single-input model, or ``{"inputs": {name:
  column}}``; a column carries every row (batch first). Answer: ``{"outputs": ...}``.

BYTES values are strings, or ``{"b64": "..."}`` for binary data (decoded to ``bytes``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.serving._codec_tensors import ProtocolError, check_shape, to_array, to_json
from app.serving.runtimes.base import Batch, TensorSpec

ROW = "row"
COLUMNAR = "columnar"


def decode_v1(payload: Any, inputs: list[TensorSpec], *, max_rows: int) -> tuple[Batch, str]:
    """The request as a batch checked against ``inputs``, and its format (``"row"`` or
    ``"columnar"``). Raises ProtocolError: 400 malformed, 413 more than ``max_rows`` rows."""
    fast = _numeric_rows(payload, inputs, max_rows)
    if fast is not None:
        return fast, ROW
    return _decode(payload, inputs, max_rows)


def _decode(payload: Any, inputs: list[TensorSpec], max_rows: int) -> tuple[Batch, str]:
    """decode_v1 for every request, taking nothing for granted."""
    if not isinstance(payload, dict):
        raise ProtocolError('the request must be a JSON object with "instances" or "inputs"')
    if ("instances" in payload) == ("inputs" in payload):
        raise ProtocolError('the request must have either "instances" (rows) or "inputs" (columns)')
    if not inputs:
        raise ProtocolError("the model declares no inputs", 500)
    if "instances" in payload:
        columns, fmt = _row_columns(payload["instances"], inputs, max_rows), ROW
    else:
        columns, fmt = _columnar_columns(payload["inputs"], inputs, max_rows), COLUMNAR
    batch = {spec.name: check_shape(spec, to_array(spec, columns[spec.name])) for spec in inputs}
    _check_same_rows(batch)
    return batch, fmt


def _numeric_rows(payload: Any, inputs: list[TensorSpec], max_rows: int) -> Batch | None:
    """The common request in one numpy call: ``{"instances": [[...], ...]}`` of plain numbers
    for a model with one float input whose rows have a fixed shape. None for anything else
    and for anything the general path would refuse, so that it answers with its message:
    the batch returned is the one the general path builds, without its per-row checks."""
    if type(payload) is not dict or len(payload) != 1 or len(inputs) != 1:
        return None
    spec = inputs[0]
    instances = payload.get("instances")
    if (
        spec.datatype not in _FLOATS
        or type(instances) is not list
        or not 0 < len(instances) <= max_rows
        or type(instances[0]) is not list
        or len(spec.shape) < 2
        or -1 in spec.shape[1:]
        or spec.shape[0] not in (-1, len(instances))
    ):
        return None
    try:
        array = np.array(instances)
    except (ValueError, OverflowError):  # ragged
        return None
    # Booleans among numbers read as 0 / 1 here as in the general path (see to_array);
    # booleans alone, strings, nulls and objects make another dtype kind.
    if array.dtype.kind not in "iuf" or array.shape[1:] != spec.shape[1:]:
        return None
    with np.errstate(over="ignore"):
        converted = array.astype(_FLOATS[spec.datatype])
    if not np.isfinite(converted).all():  # NaN, Infinity or out of range: say which
        return None
    return {spec.name: converted}


_FLOATS = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64}


def _names(inputs: list[TensorSpec]) -> str:
    return ", ".join(f"'{spec.name}'" for spec in inputs)


def _is_b64(value: Any, inputs: list[TensorSpec]) -> bool:
    # {"b64": ...} is a binary value, not a row object, unless an input is called "b64".
    return (
        isinstance(value, dict)
        and set(value) == {"b64"}
        and all(spec.name != "b64" for spec in inputs)
        and len(inputs) == 1
        and inputs[0].datatype == "BYTES"
    )


def _row_columns(instances: Any, inputs: list[TensorSpec], max_rows: int) -> dict[str, Any]:
    if not isinstance(instances, list):
        raise ProtocolError('"instances" must be a list with one entry per row')
    if not instances:
        raise ProtocolError('"instances" is empty: send at least one row')
    if len(instances) > max_rows:
        raise ProtocolError(
            f"{len(instances)} instances exceed the limit of {max_rows} rows per request", 413
        )
    objects = [isinstance(row, dict) and not _is_b64(row, inputs) for row in instances]
    if not any(objects):
        if len(inputs) != 1:
            raise ProtocolError(
                f"the model has {len(inputs)} inputs ({_names(inputs)}): each instance must be "
                "an object mapping input names to values"
            )
        return {inputs[0].name: instances}
    if not all(objects):
        plain = objects.index(False)
        raise ProtocolError(f"instances mix objects and plain values (instance {plain})")
    known = {spec.name for spec in inputs}
    for index, row in enumerate(instances):
        unknown = sorted(set(row) - known)
        if unknown:
            listed = ", ".join(f"'{name}'" for name in unknown)
            raise ProtocolError(
                f"instance {index} has unknown inputs {listed} (the model's inputs: "
                f"{_names(inputs)})"
            )
        missing = [spec.name for spec in inputs if spec.name not in row]
        if missing:
            listed = ", ".join(f"'{name}'" for name in missing)
            raise ProtocolError(f"instance {index} lacks inputs {listed}")
    return {spec.name: [row[spec.name] for row in instances] for spec in inputs}


def _columnar_columns(columns: Any, inputs: list[TensorSpec], max_rows: int) -> dict[str, Any]:
    if isinstance(columns, dict):
        known = {spec.name for spec in inputs}
        unknown = sorted(set(columns) - known)
        if unknown:
            listed = ", ".join(f"'{name}'" for name in unknown)
            raise ProtocolError(
                f'"inputs" has unknown inputs {listed} (the model\'s inputs: {_names(inputs)})'
            )
        missing = [spec.name for spec in inputs if spec.name not in columns]
        if missing:
            raise ProtocolError(
                '"inputs" lacks inputs ' + ", ".join(f"'{name}'" for name in missing)
            )
    elif len(inputs) == 1:
        columns = {inputs[0].name: columns}
    else:
        raise ProtocolError(
            f'the model has {len(inputs)} inputs ({_names(inputs)}): "inputs" must be an '
            "object mapping input names to columns"
        )
    for spec in inputs:
        column = columns[spec.name]
        if not isinstance(column, list):
            raise ProtocolError(f"input '{spec.name}' must be a list with one entry per row")
        if not column:
            raise ProtocolError(f"input '{spec.name}' has no rows: send at least one")
        if len(column) > max_rows:
            raise ProtocolError(
                f"input '{spec.name}' has {len(column)} rows, over the limit of {max_rows} "
                "rows per request",
                413,
            )
    return dict(columns)


def _check_same_rows(batch: Batch) -> None:
    counts = {name: len(array) for name, array in batch.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"'{name}' has {count}" for name, count in counts.items())
        raise ProtocolError(f"the inputs have different numbers of rows: {listed}")


def encode_v1(outputs: Batch, fmt: str) -> dict[str, Any]:
    """The v1 answer for ``fmt`` (as returned by decode_v1).

    Row format: ``{"predictions": [...]}``, one entry per row — the row of the single
    output, or an object mapping output names to row values. Columnar: ``{"outputs": ...}``,
    the single output's list or an object mapping names to lists. Values are plain JSON;
    non-finite floats become null and non-UTF-8 bytes ``{"b64": ...}``. Raises
    ProtocolError (500) when outputs disagree on the number of rows or cannot be encoded.
    """
    if fmt not in (ROW, COLUMNAR):
        raise ValueError(f"unknown v1 format {fmt!r}")
    if not outputs:
        raise ProtocolError("the model returned no outputs", 500)
    for name, array in outputs.items():
        if np.ndim(array) == 0:
            raise ProtocolError(f"output '{name}' has no batch axis", 500)
    counts = {len(array) for array in outputs.values()}
    if len(counts) > 1:
        listed = ", ".join(f"'{name}': {len(array)}" for name, array in outputs.items())
        raise ProtocolError(f"the outputs have different numbers of rows ({listed})", 500)
    values = {name: to_json(name, array, b64_objects=True) for name, array in outputs.items()}
    if fmt == COLUMNAR:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    (rows,) = counts
    return {
        "predictions": [{name: column[i] for name, column in values.items()} for i in range(rows)]
    }


def status_v1(versions: list[int], status: str, reason: str) -> dict[str, Any]:
    """The model status answer (``GET /v1/models/{m}``): each version taking traffic, or
    while none does, the service's status and its reason."""
    if versions:
        ok = {"error_code": "OK", "error_message": ""}
        entries = [{"version": str(v), "state": "AVAILABLE", "status": ok} for v in versions]
    else:
        unavailable = {"error_code": "UNAVAILABLE", "error_message": reason}
        entries = [{"version": "", "state": status, "status": unavailable}]
    return {"model_version_status": entries}
