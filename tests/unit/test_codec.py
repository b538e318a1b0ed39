"""The data-plane codec: JSON parsing, v1 (TF Serving / KServe) and v2 (Open Inference)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from app.serving.codec import (
    ProtocolError,
    decode_v1,
    decode_v2,
    encode_v1,
    encode_v2,
    metadata_v2,
    parse_json,
    requested_outputs,
)
from app.serving.runtimes.base import TensorSpec

X4 = [TensorSpec("x", "FP32", (-1, 4))]
IRIS = [TensorSpec("x1", "FP32", (-1, 1)), TensorSpec("x2", "FP64", (-1,))]
TEXT = [TensorSpec("text", "BYTES", (-1,))]


def refused(call: Any, status: int = 400) -> str:
    """Run ``call``, expect a ProtocolError with ``status``, return its message."""
    with pytest.raises(ProtocolError) as caught:
        call()
    assert caught.value.status == status, caught.value.message
    assert str(caught.value) == caught.value.message
    return caught.value.message


def v1(body: bytes, inputs: list[TensorSpec] = X4, max_rows: int = 8) -> Any:
    return decode_v1(parse_json(body), inputs, max_rows=max_rows)


# --- parse_json ---------------------------------------------------------------------------


def test_parses_json() -> None:
    assert parse_json(b'{"instances": [[1, 2.5, "a", true, null]]}') == {
        "instances": [[1, 2.5, "a", True, None]]
    }


@pytest.mark.parametrize("body", [b"", b"{", b'{"instances": [1,]}', b"{'a': 1}", b"\xff\xfe"])
def test_invalid_json_is_a_400(body: bytes) -> None:
    message = refused(lambda: parse_json(body))
    assert "JSON" in message or "UTF-8" in message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_refused(literal: str) -> None:
    message = refused(lambda: parse_json(f'{{"instances": [[1, {literal}]]}}'.encode()))
    assert "NaN and Infinity are not valid JSON numbers" in message


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a": ' * 100_000 + b"1" + b"}" * 100_000],
    ids=["lists", "objects"],
)
def test_nesting_100k_deep_is_refused_without_recursing(body: bytes) -> None:
    assert "nested deeper than 64" in refused(lambda: parse_json(body))


def test_nesting_limit_is_exact_and_ignores_brackets_in_strings() -> None:
    assert parse_json(b"[" * 64 + b"]" * 64) is not None
    refused(lambda: parse_json(b"[" * 65 + b"]" * 65))
    refused(lambda: parse_json(b"[" * 5 + b"]" * 5, max_depth=4))
    brackety = json.dumps(["[" * 1000, '{\\"[[[' * 100, 1]).encode()
    assert parse_json(brackety) == ["[" * 1000, '{\\"[[[' * 100, 1]


# --- decode_v1: request shapes ------------------------------------------------------------


def test_rows_as_lists_for_a_single_input() -> None:
    batch, fmt = v1(b'{"instances": [[1, 2, 3, 4], [5, 6, 7, 8]]}')
    assert fmt == "row"
    assert batch["x"].dtype == np.float32
    np.testing.assert_array_equal(batch["x"], [[1, 2, 3, 4], [5, 6, 7, 8]])


def test_rows_as_objects_with_scalars_for_rows_of_one() -> None:
    body = b'{"instances": [{"x1": 6.2, "x2": 2.2}, {"x2": 3, "x1": 1}]}'
    batch, fmt = v1(body, IRIS)
    assert fmt == "row"
    assert batch["x1"].shape == (2, 1) and batch["x1"].dtype == np.float32
    np.testing.assert_allclose(batch["x1"], [[6.2], [1.0]], rtol=1e-6)
    assert batch["x2"].dtype == np.float64
    np.testing.assert_array_equal(batch["x2"], [2.2, 3.0])


def test_row_objects_name_unknown_and_missing_inputs() -> None:
    unknown = refused(lambda: v1(b'{"instances": [{"x1": 1, "x2": 2, "x9": 3}]}', IRIS))
    assert "'x9'" in unknown and "'x1', 'x2'" in unknown
    missing = refused(lambda: v1(b'{"instances": [{"x1": 1, "x2": 2}, {"x1": 1}]}', IRIS))
    assert "instance 1" in missing and "'x2'" in missing


def test_plain_rows_need_a_single_input_model() -> None:
    message = refused(lambda: v1(b'{"instances": [[1, 2]]}', IRIS))
    assert "2 inputs" in message and "object" in message
    assert "mix" in refused(lambda: v1(b'{"instances": [{"x1": 1, "x2": 2}, [1, 2]]}', IRIS))


def test_columnar_for_one_input_and_by_name() -> None:
    batch, fmt = v1(b'{"inputs": [[1, 2, 3, 4]]}')
    assert fmt == "columnar"
    np.testing.assert_array_equal(batch["x"], [[1, 2, 3, 4]])
    batch, fmt = v1(b'{"inputs": {"x1": [[1], [2]], "x2": [3, 4]}}', IRIS)
    assert fmt == "columnar"
    np.testing.assert_array_equal(batch["x1"], [[1], [2]])
    np.testing.assert_array_equal(batch["x2"], [3, 4])


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"inputs": {"x1": [1, 2], "x2": [3]}}', ["different numbers of rows"]),
        (b'{"inputs": {"x1": [1]}}', ["lacks", "'x2'"]),
        (b'{"inputs": {"x1": [1], "x2": [1], "y": [1]}}', ["unknown", "'y'"]),
        (b'{"inputs": [1, 2]}', ["2 inputs", "object"]),
        (b'{"inputs": {"x1": 1, "x2": [1]}}', ["'x1'", "one entry per row"]),
        (b'{"inputs": {"x1": [], "x2": []}}', ["'x1'", "no rows"]),
    ],
)
def test_columnar_mistakes(body: bytes, words: list[str]) -> None:
    message = refused(lambda: v1(body, IRIS))
    assert all(word in message for word in words), message


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"[1, 2]", ["JSON object"]),
        (b"{}", ['"instances"', '"inputs"']),
        (b'{"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}', ["either"]),
        (b'{"instances": []}', ["empty"]),
        (b'{"instances": {"x": 1}}', ["list"]),
    ],
)
def test_malformed_v1_requests(body: bytes, words: list[str]) -> None:
    message = refused(lambda: v1(body))
    assert all(word in message for word in words), message


def test_too_many_rows_is_a_413() -> None:
    rows = json.dumps({"instances": [[1, 2, 3, 4]] * 9}).encode()
    assert "limit of 8" in refused(lambda: v1(rows), 413)
    columns = json.dumps({"inputs": [[1, 2, 3, 4]] * 9}).encode()
    refused(lambda: v1(columns), 413)
    assert len(v1(rows, max_rows=9)[0]["x"]) == 9


# --- decode_v1: shapes and types ----------------------------------------------------------


def test_wrong_row_shape_names_the_input_and_expected_shape() -> None:
    message = refused(lambda: v1(b'{"instances": [[1, 2, 3], [4, 5, 6]]}'))
    assert message == "input 'x' expects shape [-1, 4] (rows of 4), got a row of shape [3]"


def test_ragged_rows_point_at_the_odd_row() -> None:
    message = refused(lambda: v1(b'{"instances": [[1, 2, 3, 4], [1, 2, 3], [1, 2, 3, 4]]}'))
    assert "input 'x' expects shape [-1, 4]" in message and "row 1" in message
    inner = refused(lambda: v1(b'{"instances": [[[1, 2], [3]]]}', [TensorSpec("x", "FP32", ())]))
    assert "ragged" in inner


def test_scalars_are_not_rows_of_several() -> None:
    message = refused(lambda: v1(b'{"instances": [1, 2]}'))
    assert "got a row of shape []" in message
    columnar = refused(lambda: v1(b'{"inputs": 5}'))
    assert "'x'" in columnar and "one entry per row" in columnar


def test_a_fixed_batch_axis_is_checked() -> None:
    spec = [TensorSpec("x", "FP32", (1, 2))]
    assert v1(b'{"instances": [[1, 2]]}', spec)[0]["x"].shape == (1, 2)
    assert "2 rows" in refused(lambda: v1(b'{"instances": [[1, 2], [3, 4]]}', spec))


def test_unknown_rank_accepts_any_row_shape() -> None:
    batch, _ = v1(b'{"instances": [[[1], [2]]]}', [TensorSpec("x", "INT64", ())])
    assert batch["x"].shape == (1, 2, 1)


@pytest.mark.parametrize(
    ("datatype", "value", "words"),
    [
        ("FP32", '"abc"', ["'x'", "FP32", "'abc'"]),
        ("FP32", "null", ["'x'", "FP32", "null"]),
        ("FP32", "{}", ["'x'", "object"]),
        ("FP32", "1e999", ["'x'", "NaN and Infinity"]),
        ("FP64", "-1e999", ["'x'", "NaN and Infinity"]),
        ("FP32", "1e300", ["'x'", "out of range for FP32"]),
        ("FP16", "70000", ["'x'", "out of range for FP16"]),
        ("INT8", "300", ["'x'", "out of range for INT8"]),
        ("UINT8", "-1", ["'x'", "out of range for UINT8"]),
        ("INT64", "9.3e18", ["'x'", "out of range for INT64"]),
        ("INT64", str(2**70), ["'x'", "out of range for INT64"]),
        ("INT64", str(2**63), ["'x'", "out of range for INT64"]),
        ("UINT64", str(-(2**62)), ["'x'", "out of range for UINT64"]),
        ("INT32", "2.5", ["'x'", "INT32 integers", "2.5"]),
        ("BOOL", "1", ["'x'", "BOOL"]),
        ("BYTES", "1", ["'x'", "BYTES"]),
        ("BYTES", '{"b64": "***"}', ["'x'", "base64"]),
    ],
)
def test_wrong_types_name_the_input_and_datatype(
    datatype: str, value: str, words: list[str]
) -> None:
    good = {"BOOL": "true", "BYTES": '"a"'}.get(datatype, "1")
    body = f'{{"instances": [[{good}, {good}], [{good}, {value}]]}}'.encode()
    message = refused(lambda: v1(body, [TensorSpec("x", datatype, (-1, 2))]))
    assert all(word in message for word in words), message


def test_booleans_are_not_numbers() -> None:
    message = refused(lambda: v1(b'{"instances": [true, false]}', [TensorSpec("x", "FP64", (-1,))]))
    assert "'x'" in message and "FP64" in message and "true" in message


@pytest.mark.parametrize(
    ("datatype", "values", "dtype"),
    [
        ("INT8", "[1, -2.0]", np.int8),
        ("UINT64", f"[0, {2**64 - 1}]", np.uint64),
        ("FP16", "[1, 0.5]", np.float16),
        ("BOOL", "[true, false]", np.bool_),
        ("INT64", f"[{2**63 - 1}, 0]", np.int64),
        # Mixed signs make numpy go through float64, which would round these.
        ("INT64", f"[{2**63 - 1}, -1, 1.0]", np.int64),
        ("UINT64", f"[{2**63 + 1}, 0.0]", np.uint64),
    ],
)
def test_values_are_converted_to_the_input_datatype(
    datatype: str, values: str, dtype: type[np.generic]
) -> None:
    batch, _ = v1(f'{{"instances": {values}}}'.encode(), [TensorSpec("x", datatype, (-1,))])
    assert batch["x"].dtype == dtype
    assert batch["x"].tolist() == json.loads(values)


def test_bytes_inputs_take_strings_and_b64() -> None:
    batch, _ = v1(b'{"instances": ["hello", {"b64": "/wA="}]}', TEXT)
    assert batch["text"].tolist() == ["hello", b"\xff\x00"]
    batch, _ = v1(b'{"instances": [{"text": "a"}, {"text": {"b64": "Yg=="}}]}', TEXT)
    assert batch["text"].tolist() == ["a", b"b"]


# --- encode_v1 ----------------------------------------------------------------------------


def test_row_answers_for_one_and_several_outputs() -> None:
    y = np.array([[0.5, 1.5], [2.5, 3.5]], dtype=np.float32)
    assert encode_v1({"y": y}, "row") == {"predictions": [[0.5, 1.5], [2.5, 3.5]]}
    label = np.array(["setosa", "virginica"])
    assert encode_v1({"y": y, "label": label}, "row") == {
        "predictions": [
            {"y": [0.5, 1.5], "label": "setosa"},
            {"y": [2.5, 3.5], "label": "virginica"},
        ]
    }


def test_columnar_answers() -> None:
    best = np.array([2, 0], dtype=np.int64)
    assert encode_v1({"best": best}, "columnar") == {"outputs": [2, 0]}
    flags = np.array([True, False])
    assert encode_v1({"best": best, "ok": flags}, "columnar") == {
        "outputs": {"best": [2, 0], "ok": [True, False]}
    }


def test_answers_are_plain_json() -> None:
    outputs = {
        "f": np.array([1.0, np.nan, np.inf], dtype=np.float64),
        "b": np.array([b"text", b"\xff", "str"], dtype=object),
        "i": np.array([np.int32(1), 2, 3], dtype=object),
    }
    answer = encode_v1(outputs, "columnar")
    text = json.dumps(answer, allow_nan=False)  # no NaN, no numpy scalars
    assert json.loads(text)["outputs"] == {
        "f": [1.0, None, None],
        "b": ["text", {"b64": "/w=="}, "str"],
        "i": [1, 2, 3],
    }
    assert type(answer["outputs"]["i"][0]) is int


def test_outputs_that_disagree_on_rows_are_a_500() -> None:
    refused(lambda: encode_v1({"a": np.zeros(2), "b": np.zeros(3)}, "row"), 500)
    refused(lambda: encode_v1({"a": np.array(1.0)}, "row"), 500)
    refused(lambda: encode_v1({"a": np.zeros(2, dtype=np.complex64)}, "row"), 500)


# --- v2 -----------------------------------------------------------------------------------


def tensor(**fields: Any) -> dict[str, Any]:
    return {"name": "x", "shape": [2, 4], "datatype": "FP32", "data": list(range(8)), **fields}


def test_v2_flat_and_nested_data() -> None:
    flat = decode_v2({"inputs": [tensor()]}, X4, max_rows=8)
    nested = decode_v2({"inputs": [tensor(data=[[0, 1, 2, 3], [4, 5, 6, 7]])]}, X4, max_rows=8)
    for batch in (flat, nested):
        assert batch["x"].dtype == np.float32
        np.testing.assert_array_equal(batch["x"], np.arange(8).reshape(2, 4))


def test_v2_several_inputs_with_a_shape_of_one() -> None:
    payload = {
        "id": "r1",
        "inputs": [
            {"name": "x2", "shape": [2], "datatype": "FP64", "data": [3, 4]},
            {"name": "x1", "shape": [2, 1], "datatype": "FP32", "data": [1, 2]},
        ],
        "outputs": [{"name": "y"}],
    }
    batch = decode_v2(payload, IRIS, max_rows=8)
    assert batch["x1"].shape == (2, 1) and batch["x2"].shape == (2,)
    assert requested_outputs(payload) == ["y"]
    assert requested_outputs({"inputs": []}) is None


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"datatype": "FP64"}, ["'x'", "FP32", "'FP64'"]),
        ({"datatype": "FLOAT"}, ["'x'", "FP32", "'FLOAT'", "datatypes"]),
        ({"data": list(range(7))}, ["'x'", "[2, 4]", "8 values", "7"]),
        ({"data": [[0, 1, 2], [3, 4, 5]]}, ["'x'", "8 values", "6"]),
        ({"shape": [2, 3], "data": list(range(6))}, ["'x'", "[-1, 4]", "shape [3]"]),
        ({"shape": [0, 4], "data": []}, ["'x'", "at least one row"]),
        ({"shape": [2, -4]}, ["'x'", "shape"]),
        ({"shape": "2,4"}, ["'x'", "shape"]),
        ({"data": "01234567"}, ["'x'", "data"]),
        ({"data": ["a"] * 8}, ["'x'", "FP32", "'a'"]),
        ({"name": "y"}, ["unknown input 'y'", "'x'"]),
        ({"name": 3}, ["inputs[0]", "name"]),
        ({"parameters": {"binary_data_size": 32}}, ["'x'", "binary"]),
    ],
)
def test_v2_mistakes(fields: dict[str, Any], words: list[str]) -> None:
    message = refused(lambda: decode_v2({"inputs": [tensor(**fields)]}, X4, max_rows=8))
    assert all(word in message for word in words), message


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ([], ["JSON object"]),
        ({}, ['"inputs"']),
        ({"inputs": []}, ['"inputs"']),
        ({"inputs": [1]}, ["inputs[0]"]),
        ({"inputs": [tensor(), tensor()]}, ["'x'", "twice"]),
        ({"inputs": [tensor()], "id": 5}, ['"id"']),
        ({"inputs": [tensor()], "outputs": ["y"]}, ['"outputs"']),
    ],
)
def test_v2_malformed_requests(payload: Any, words: list[str]) -> None:
    message = refused(lambda: decode_v2(payload, X4, max_rows=8))
    assert all(word in message for word in words), message


def test_v2_missing_inputs_rows_and_limits() -> None:
    only_x2 = {"inputs": [{"name": "x2", "shape": [1], "datatype": "FP64", "data": [1]}]}
    assert "missing inputs 'x1'" in refused(lambda: decode_v2(only_x2, IRIS, max_rows=8))
    uneven = {
        "inputs": [
            {"name": "x2", "shape": [1], "datatype": "FP64", "data": [1]},
            {"name": "x1", "shape": [2, 1], "datatype": "FP32", "data": [1, 2]},
        ]
    }
    assert "different numbers of rows" in refused(lambda: decode_v2(uneven, IRIS, max_rows=8))
    big = {"inputs": [tensor(shape=[9, 4], data=[0] * 36)]}
    assert "limit of 8" in refused(lambda: decode_v2(big, X4, max_rows=8), 413)
    huge = {"inputs": [tensor(shape=[2, 10**12], data=[0])]}
    refused(lambda: decode_v2(huge, [TensorSpec("x", "FP32", (-1, -1))], max_rows=8))


def test_v2_infer_response() -> None:
    outputs = {
        "y": np.array([[0.5, 1.0], [1.5, np.nan]], dtype=np.float32),
        "label": np.array([b"a", b"\xff"], dtype=object),
        "ok": np.array([True, False]),
    }
    assert encode_v2("iris", "3", outputs, id="r1") == {
        "model_name": "iris",
        "model_version": "3",
        "id": "r1",
        "outputs": [
            {"name": "y", "shape": [2, 2], "datatype": "FP32", "data": [0.5, 1.0, 1.5, None]},
            {"name": "label", "shape": [2], "datatype": "BYTES", "data": ["a", "/w=="]},
            {"name": "ok", "shape": [2], "datatype": "BOOL", "data": [True, False]},
        ],
    }
    answer = encode_v2("iris", "3", {"n": np.array([1], dtype=np.uint16)}, id=None)
    assert "id" not in answer and answer["outputs"][0]["datatype"] == "UINT16"


def test_v2_metadata() -> None:
    assert metadata_v2("iris", ["3", "4"], IRIS, [TensorSpec("y", "INT64", (-1,))], "onnx") == {
        "name": "iris",
        "versions": ["3", "4"],
        "platform": "onnx",
        "inputs": [
            {"name": "x1", "datatype": "FP32", "shape": [-1, 1]},
            {"name": "x2", "datatype": "FP64", "shape": [-1]},
        ],
        "outputs": [{"name": "y", "datatype": "INT64", "shape": [-1]}],
    }
