"""JSON values <-> numpy arrays, shared by the v1 and v2 codecs.

Decoding trusts nothing: every value is converted to the input's declared datatype with
numpy doing the bulk work, and only when numpy's answer is unusable (a string among
numbers, ragged rows) do we walk the Python values to name the culprit in the message.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from app.serving.errors import ServingError
from app.serving.runtimes.base import DATATYPES, TensorSpec


class ProtocolError(ServingError):
    """A request the data plane cannot accept (or, rarely, a response it cannot encode).

    ``status`` is the HTTP status to answer with: 400 malformed, 413 too many rows, 422
    well-formed but unusable, 500 when the model's own outputs cannot be encoded.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message, status)


def format_shape(shape: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(str(dim) for dim in shape) + "]"


def _rows_described(row_shape: tuple[int, ...]) -> str:
    if not row_shape:
        return "one value per row"
    if len(row_shape) == 1:
        return "rows of any length" if row_shape[0] == -1 else f"rows of {row_shape[0]}"
    return f"rows of shape {format_shape(row_shape)}"


def shape_error(spec: TensorSpec, got: str) -> ProtocolError:
    expected = f"{format_shape(spec.shape)} ({_rows_described(spec.shape[1:])})"
    return ProtocolError(f"input '{spec.name}' expects shape {expected}, got {got}")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _leaves(values: Any) -> Iterator[Any]:
    # Iterative so that a deeply nested value cannot exhaust the interpreter's stack.
    stack = [values]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            yield item


_NOTHING = object()  # not None: null is a value _first may well find


def _first(values: Any, bad: Callable[[Any], bool]) -> Any:
    return next((leaf for leaf in _leaves(values) if bad(leaf)), _NOTHING)


def nested_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of nested JSON lists, or None when they are ragged. Without recursion:
    the lists may nest as deeply as a request body may (``max_json_depth``), far deeper
    than numpy's 64 dimensions, whose refusal brings a value here to be described."""
    if not isinstance(value, list):
        return ()
    # Lists are visited before their items and their shapes worked out after them.
    shapes: dict[int, tuple[int, ...] | None] = {}
    order: list[list[Any]] = []
    stack: list[list[Any]] = [value]
    while stack:
        items = stack.pop()
        order.append(items)
        stack.extend(item for item in items if isinstance(item, list))
    for items in reversed(order):
        inner = {shapes[id(item)] if isinstance(item, list) else () for item in items}
        if not items:
            shapes[id(items)] = (0,)
        elif len(inner) != 1 or None in inner:
            shapes[id(items)] = None
        else:
            (first,) = inner
            shapes[id(items)] = None if first is None else (len(items), *first)
    return shapes[id(value)]


def _ragged(spec: TensorSpec, rows: Any) -> ProtocolError:
    """The clearest message for rows numpy could not stack: the first odd row."""
    if isinstance(rows, list):
        expected = spec.shape[1:]
        shapes = [nested_shape(row) for row in rows]
        reference = next((shape for shape in shapes if shape is not None), None)
        for index, shape in enumerate(shapes):
            if shape is None:
                return shape_error(spec, f"a ragged row (row {index})")
            fits = len(shape) == len(expected) and all(
                want in (-1, got) for want, got in zip(expected, shape, strict=True)
            )
            if (expected and not fits) or (not expected and shape != reference):
                return shape_error(spec, f"a row of shape {format_shape(shape)} (row {index})")
    return shape_error(spec, "ragged nested lists")


def to_array(spec: TensorSpec, values: Any) -> np.ndarray:
    """``values`` (nested JSON lists, batch first) as an array of ``spec.datatype``.

    Strings, nulls and objects in numeric inputs are refused, and so are booleans, except
    that a boolean among numbers reads as 0 / 1: numpy does that cheaply, and finding it
    would mean visiting every value of every request in Python.
    """
    if spec.datatype == "BYTES":
        return _bytes_array(spec, values)
    try:
        array = np.array(values)
    except (ValueError, OverflowError):
        raise _ragged(spec, values) from None
    datatype, dtype = spec.datatype, np.dtype(DATATYPES[spec.datatype])
    kind = array.dtype.kind
    if datatype == "BOOL":
        if kind != "b" and array.size:
            bad = _first(values, lambda leaf: not isinstance(leaf, bool))
            raise ProtocolError(
                f"input '{spec.name}' expects BOOL (true/false), got {_describe(bad)}"
            )
        return array.astype(dtype)
    if kind == "b" or (kind in "OUS" and array.size):
        # numpy refuses ragged lists (ValueError above), so an object array holds nulls,
        # objects, strings, or integers too big for any numpy type.
        bad = _first(values, lambda leaf: isinstance(leaf, bool | str | dict) or leaf is None)
        if bad is _NOTHING:
            raise _out_of_range(spec)
        raise ProtocolError(f"input '{spec.name}' expects {datatype} numbers, got {_describe(bad)}")
    if kind == "f" and not np.isfinite(array).all():
        raise ProtocolError(
            f"input '{spec.name}' has a value that is not a finite number; "
            "NaN and Infinity are not accepted"
        )
    if dtype.kind in "iu":
        if kind == "f" and not (array == np.floor(array)).all():
            bad = _first(values, lambda leaf: isinstance(leaf, float) and not leaf.is_integer())
            raise ProtocolError(f"input '{spec.name}' expects {datatype} integers, got {bad!r}")
        if kind == "f" and array.size and np.abs(array).max() >= 2.0**53:
            # numpy went through float64 (e.g. for [-1, 2**63]), which rounds big integers:
            # convert the original values exactly instead.
            try:
                return np.array(values, dtype=object).astype(dtype)
            except OverflowError:
                raise _out_of_range(spec) from None
        info = np.iinfo(dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise _out_of_range(spec)
        return array.astype(dtype)
    with np.errstate(over="ignore"):  # overflow is detected just below
        converted = array.astype(dtype)
    if not np.isfinite(converted).all():  # e.g. 1e300 does not fit FP32
        raise _out_of_range(spec)
    return converted


def _out_of_range(spec: TensorSpec) -> ProtocolError:
    return ProtocolError(f"input '{spec.name}' has a value out of range for {spec.datatype}")


def _bytes_array(spec: TensorSpec, values: Any) -> np.ndarray:
    # dtype=object keeps strings whole; ragged rows then show up as list elements.
    try:
        array = np.array(values, dtype=object)
    except ValueError:
        raise _ragged(spec, values) from None
    flat = array.reshape(-1)
    for index, item in enumerate(flat):
        if isinstance(item, str):
            continue
        if isinstance(item, list):
            raise _ragged(spec, values)
        if isinstance(item, dict) and set(item) == {"b64"} and isinstance(item["b64"], str):
            try:
                flat[index] = base64.b64decode(item["b64"], validate=True)
            except binascii.Error:
                raise ProtocolError(
                    f"input '{spec.name}' has invalid base64 in a b64 value"
                ) from None
            continue
        raise ProtocolError(
            f"input '{spec.name}' expects BYTES (strings or {{\"b64\": ...}}), "
            f"got {_describe(item)}"
        )
    return array


def check_shape(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    """The array checked against ``spec.shape`` (a spec without a shape accepts any rank).

    A scalar row is accepted for rows of shape [1] (or [1, 1], ...): clients of a model with
    inputs of shape [-1, 1] naturally send ``{"x1": 6.2}`` rather than ``{"x1": [6.2]}``.
    """
    if array.ndim == 0:
        raise ProtocolError(f"input '{spec.name}' must be a list with one entry per row")
    if not spec.shape:
        return array
    rows, row, expected = array.shape[0], array.shape[1:], spec.shape[1:]
    if not row and expected and all(dim == 1 for dim in expected):
        array = array.reshape((rows, *expected))
        row = expected
    fits = len(row) == len(expected) and all(
        want in (-1, got) for want, got in zip(expected, row, strict=True)
    )
    if not fits:
        raise shape_error(spec, f"a row of shape {format_shape(row)}")
    if spec.shape[0] not in (-1, rows):
        raise shape_error(spec, f"{rows} rows")
    return array


def datatype_of(name: str, array: np.ndarray) -> str:
    """The v2 datatype of an output array."""
    kind = array.dtype.kind
    if kind in "OUS":
        return "BYTES"
    for datatype, dtype in DATATYPES.items():
        if dtype != "object" and array.dtype == np.dtype(dtype):
            return datatype
    raise ProtocolError(f"output '{name}' has a type JSON cannot carry: {array.dtype}", 500)


def to_json(name: str, array: np.ndarray, *, b64_objects: bool) -> Any:
    """The array as plain JSON values (nested lists, or a scalar for a 0-d array).

    JSON has no NaN or Infinity, so non-finite floats become null (as orjson and KServe
    do). Bytes become their UTF-8 text; bytes that are not UTF-8 become base64, as
    ``{"b64": "..."}`` when ``b64_objects`` (the TensorFlow Serving convention, v1) or as
    a bare base64 string (v2, whose JSON form has no marker for it).
    """
    kind = array.dtype.kind
    if kind in "biuU":
        return array.tolist()
    if kind == "f":
        finite = np.isfinite(array)
        if finite.all():
            return array.tolist()
        cleaned = array.astype(object)
        cleaned[~finite] = None
        return cleaned.tolist()
    if kind in "OS":
        convert = np.frompyfunc(lambda item: _plain(item, b64_objects), 1, 1)
        converted = convert(array)
        return converted.tolist() if isinstance(converted, np.ndarray) else converted
    raise ProtocolError(f"output '{name}' has a type JSON cannot carry: {array.dtype}", 500)


def _plain(item: Any, b64_objects: bool) -> Any:
    if isinstance(item, bytes):
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            encoded = base64.b64encode(item).decode("ascii")
            return {"b64": encoded} if b64_objects else encoded
    if isinstance(item, np.generic):
        item = item.item()
    if isinstance(item, float) and not math.isfinite(item):
        return None
    return item
