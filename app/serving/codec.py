"""Request and response encoding for the data plane: pure functions, no I/O.

``parse_json`` turns a request body into JSON values; ``decode_v1`` / ``decode_v2`` check
them against the model's inputs and build a batch (a dict of numpy arrays, rows on axis
0); ``encode_v1`` / ``encode_v2`` / ``metadata_v2`` build the answers. Every refusal is a
``ProtocolError`` carrying its HTTP status and a message naming the input at fault.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

import numpy as np
import orjson

from app.serving._codec_tensors import ProtocolError
from app.serving.codec_v1 import decode_v1, encode_v1, status_v1
from app.serving.codec_v2 import decode_v2, encode_v2, metadata_v2, requested_outputs

__all__ = [
    "ProtocolError",
    "decode_v1",
    "decode_v2",
    "dump_json",
    "encode_v1",
    "encode_v2",
    "metadata_v2",
    "parse_json",
    "requested_outputs",
    "status_v1",
]

_LONG_DIGITS = re.compile(rb"[0-9]{20}")
# A complete JSON string: brackets inside one do not nest anything.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OPENING = np.frombuffer(b"[{", dtype=np.uint8)


def parse_json(body: bytes, *, max_depth: int = 64) -> Any:
    """The JSON value of a UTF-8 request body. Raises ProtocolError (400) for invalid JSON,
    for NaN / Infinity literals, and for nesting deeper than ``max_depth``.

    orjson parses what it can; whatever it refuses goes through the json module, whose
    answer (a value or the error message) is the reference. orjson reads integers beyond
    64 bits as floats, so bodies with 20 digits in a row skip it."""
    if not _LONG_DIGITS.search(body):
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            _check_depth(body, max_depth)
            return value
    return _parse_with_json(body, max_depth)


def _parse_with_json(body: bytes, max_depth: int) -> Any:
    """parse_json with the json module alone: the reference for every answer."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"the request body is not UTF-8: {exc}") from None
    _check_depth(body, max_depth)
    try:
        if text.startswith("\ufeff"):  # as json.loads refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except RecursionError:  # a max_depth beyond what the json module can parse
        raise ProtocolError("JSON nested too deeply to parse") from None
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        raise ProtocolError(f"invalid JSON: {exc}") from None


def _refuse_constant(name: str) -> NoReturn:
    raise ProtocolError(f"NaN and Infinity are not valid JSON numbers (got {name})")


# One decoder for every request: json.loads with any option builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _check_depth(body: bytes, max_depth: int) -> None:
    """Refuse deep nesting before parsing: the json module recurses once per level, so a
    100 000-deep body would otherwise be slow and end in RecursionError.

    Vectorised rather than a Python loop over the bytes, so a large body costs little.
    Strings are blanked first. An unterminated string can only make the count wrong *after*
    the point where the parser itself will fail, so every level the parser reaches is counted.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return
    brackets = _STRING.sub(b'""', body).translate(None, _NOT_BRACKETS)
    codes = np.frombuffer(brackets, dtype=np.uint8)
    depth = np.cumsum(np.where(np.isin(codes, _OPENING), 1, -1))
    if depth.size and int(depth.max()) > max_depth:
        raise ProtocolError(f"JSON nested deeper than {max_depth} levels")


def dump_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON (as Starlette's JSONResponse renders it, but with
    orjson, which writes non-finite floats as null). What orjson refuses goes through the
    json module with ASCII escapes, which also carry a lone surrogate (say, from a request
    quoted in an error message) that UTF-8 cannot."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, allow_nan=False, separators=(",", ":")).encode("ascii")
