"""The codec's fast paths give exactly what the general paths give: orjson parsing against
the json module, the numeric-rows decode against the full v1 decode, orjson encoding."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from app.serving import codec_v1
from app.serving.codec import ProtocolError, _parse_with_json, dump_json, parse_json
from app.serving.runtimes.base import TensorSpec


def outcome(fn: Any) -> Any:
    """What ``fn()`` returns, or the ProtocolError it raises as (status, message)."""
    try:
        return ("value", fn())
    except ProtocolError as exc:
        return ("error", exc.status, exc.message)


def typed(value: Any) -> Any:
    """``value`` with every leaf's type beside it, so that 1 and 1.0 differ."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, repr(value))


BODIES = [
    b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}',
    b'{"instances": [[1, 2, 3, 4]], "extra": {"a": [true, false, null, "x"]}}',
    b"[1, -0, -0.0, 1E5, 1e-400, 0.1, 123456789012345678]",
    b"[18446744073709551615, -9223372036854775808]",  # the edges of 64 bits
    b"[123456789012345678901234567890]",  # beyond 64 bits: an int, not a float
    b"[1.00000000000000000000001]",
    b"[1e999]",
    b'{"a": 1, "a": 2}',
    b'"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00"',
    b'"\\ud800"',  # a lone surrogate: json accepts it, orjson does not
    b"\xef\xbb\xbf[1]",  # a UTF-8 byte order mark
    b"[NaN]",
    b'{"x": -Infinity}',
    b"\xff[1]",
    b"",
    b"[1,]",
    b"{",
    b"[" * 65 + b"]" * 65,
    b"[" * 64 + b"]" * 64,
    b"[" * 5000,
    b'["[[[[", {"k": "{{{{"}]',
]


@pytest.mark.parametrize("body", BODIES)
def test_parse_json_answers_as_the_json_module_does(body: bytes) -> None:
    fast, reference = outcome(lambda: parse_json(body)), outcome(lambda: _parse_with_json(body, 64))
    assert fast[0] == reference[0]
    if fast[0] == "value":
        assert typed(fast[1]) == typed(reference[1])
    else:
        assert fast == reference


SPEC = TensorSpec("x", "FP32", (-1, 4))
ACCEPTED = [
    ({"instances": [[5.1, 3.5, 1.4, 0.2]]}, SPEC),
    ({"instances": [[1, 2, 3, 4], [5, 6, 7, 8]]}, SPEC),
    ({"instances": [[1, True, 0.5, False]]}, SPEC),  # booleans among numbers: 0 / 1
    ({"instances": [[2**64 - 1, 0, 0, 0]]}, SPEC),
    ({"instances": [[1.5, 2, 3, 4]]}, TensorSpec("x", "FP64", (-1, 4))),
    ({"instances": [[1.5, 2, 3, 4]]}, TensorSpec("x", "FP16", (-1, 4))),
    ({"instances": [[[1, 2, 3], [4, 5, 6]]]}, TensorSpec("x", "FP32", (-1, 2, 3))),
    ({"instances": [[1, 2, 3, 4]]}, TensorSpec("x", "FP32", (1, 4))),
]
REFUSED = [
    ({"instances": [[1, 2, 3]]}, SPEC),  # wrong width
    ({"instances": [[1, 2, 3, 4], [1, 2]]}, SPEC),  # ragged
    ({"instances": [[1, 2, "3", 4]]}, SPEC),
    ({"instances": [[1, 2, None, 4]]}, SPEC),
    ({"instances": [[True, False, True, False]]}, SPEC),
    ({"instances": [[1, 2, {"b": 1}, 4]]}, SPEC),
    ({"instances": [[1e300, 0, 0, 0]]}, SPEC),  # out of range for FP32
    ({"instances": [[math.inf, 0, 0, 0]]}, SPEC),
    ({"instances": [[2**70, 0, 0, 0]]}, SPEC),
    ({"instances": [[1, 2, 3, 4]] * 11}, SPEC),  # over max_rows
    ({"instances": []}, SPEC),
    ({"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}, SPEC),
    ({"instances": [[1, 2, 3, 4], [1, 2, 3, 4]]}, TensorSpec("x", "FP32", (1, 4))),
    ({"instances": [[[1, 2, 3], [4, 5]]]}, TensorSpec("x", "FP32", (-1, 2, 3))),
    ({"instances": [{"x": [1, 2, 3, 4]}]}, SPEC),  # row objects: the general path's
    ({"instances": [1.0, 2.0]}, TensorSpec("x", "FP32", (-1, 1))),  # scalar rows: idem
    ({"instances": [[1, 2, 3, 4]]}, TensorSpec("x", "FP32", (-1, -1))),  # dynamic width
    ({"instances": [[1, 2, 3, 4]]}, TensorSpec("x", "INT64", (-1, 4))),
    ([[1, 2, 3, 4]], SPEC),
]


def decoded(payload: Any, spec: TensorSpec, fn: Any) -> Any:
    result = outcome(lambda: fn(payload, [spec], max_rows=10))
    if result[0] == "value":
        batch, fmt = result[1]
        return fmt, {
            name: (array.dtype.str, array.shape, array.tolist()) for name, array in batch.items()
        }
    return result


def general(payload: Any, inputs: list[TensorSpec], *, max_rows: int) -> Any:
    return codec_v1._decode(payload, inputs, max_rows)


@pytest.mark.parametrize(("payload", "spec"), ACCEPTED)
def test_numeric_rows_are_decoded_as_the_general_path_decodes_them(
    payload: Any, spec: TensorSpec
) -> None:
    assert codec_v1._numeric_rows(payload, [spec], 10) is not None  # the fast path ran
    assert decoded(payload, spec, codec_v1.decode_v1) == decoded(payload, spec, general)


@pytest.mark.parametrize(("payload", "spec"), REFUSED)
def test_anything_else_is_left_to_the_general_path(payload: Any, spec: TensorSpec) -> None:
    assert codec_v1._numeric_rows(payload, [spec], 10) is None
    assert decoded(payload, spec, codec_v1.decode_v1) == decoded(payload, spec, general)


def test_several_inputs_are_left_to_the_general_path() -> None:
    inputs = [SPEC, TensorSpec("y", "FP32", (-1, 4))]
    assert codec_v1._numeric_rows({"instances": [[1, 2, 3, 4]]}, inputs, 10) is None


def test_decoded_rows_are_float32_arrays_of_the_values() -> None:
    batch, fmt = codec_v1.decode_v1({"instances": [[5.1, 3.5, 1.4, 0.2]]}, [SPEC], max_rows=10)
    assert fmt == "row" and batch["x"].dtype == np.float32
    np.testing.assert_array_equal(batch["x"], np.array([[5.1, 3.5, 1.4, 0.2]], np.float32))


@pytest.mark.parametrize(
    "value",
    [
        {"predictions": [{"label": 0, "probabilities": [0.98, 0.011, 1.578036545879513e-08]}]},
        {"outputs": ["café", "\U0001f600", 'quote " and \\ backslash', "\n"]},
        {"predictions": [[2**63 - 1], [-(2**63)], [2**64 - 1], [True], [None]]},
        {"error": "lone \ud800 surrogate"},  # orjson refuses it: the json module writes it
    ],
)
def test_dump_json_writes_what_json_reads_back(value: Any) -> None:
    assert typed(json.loads(dump_json(value))) == typed(value)


def test_dump_json_is_compact_utf8() -> None:
    assert dump_json({"a": [1, 2.5], "t": "café"}) == '{"a":[1,2.5],"t":"café"}'.encode()
