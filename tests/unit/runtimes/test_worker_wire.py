"""The custom runtime's wire format: arrays round-trip exactly, and frames a worker could
forge are refused without running anything (nothing is ever unpickled)."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from app.serving.runtimes._custom_worker import HEAD, WireError, decode, encode, read_frame


def roundtrip(arrays: dict[str, object]) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    frame = read_frame(io.BytesIO(encode({"ok": True}, arrays)))
    assert frame is not None
    return decode(*frame)


def test_numbers_strings_and_bytes_round_trip() -> None:
    arrays = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "i64": np.array([[-(2**40)], [7]], dtype=np.int64),
        "flag": np.array([True, False]),
        "empty": np.zeros((0, 4), dtype=np.float64),
        "text": np.array(["héllo", "wörld"], dtype=object),
        "blob": np.array([b"\x00\xff", b"tail\x00"], dtype=object),
    }
    header, result = roundtrip(arrays)
    assert header == {"ok": True}
    for name, array in arrays.items():
        assert result[name].shape == array.shape
        assert result[name].dtype == array.dtype
        np.testing.assert_array_equal(result[name], array)
    assert result["blob"][1] == b"tail\x00"  # trailing NULs survive
    assert result["f32"].flags.writeable


def test_lists_and_scalars_become_arrays() -> None:
    _, result = roundtrip({"list": [[1.5, 2.5]], "words": ["a", "b"], "one": 3})
    np.testing.assert_array_equal(result["list"], [[1.5, 2.5]])
    assert list(result["words"]) == ["a", "b"]
    assert result["one"].shape == () and int(result["one"]) == 3


def test_objects_that_are_not_text_cannot_be_sent() -> None:
    with pytest.raises(WireError, match="cannot send"):
        encode({}, {"x": np.array([object()], dtype=object)})


def frame(header: object, body: bytes = b"") -> tuple[bytes, bytes]:
    return json.dumps(header).encode(), body


@pytest.mark.parametrize(
    ("header", "body", "message"),
    [
        ({"arrays": [{"name": "x", "dtype": "object", "shape": [1], "offset": 0}]}, b"", "dtype"),
        ({"arrays": [{"name": "x", "dtype": "float64", "shape": [4], "offset": 0}]}, b"", "short"),
        ({"arrays": [{"name": "x", "dtype": "int8", "shape": [-1], "offset": 0}]}, b"", "shape"),
        ({"arrays": [{"name": "x", "str": ["a"], "shape": [2]}]}, b"", "expected 2 items"),
        ({"arrays": [{"name": "x", "str": [1], "shape": [1]}]}, b"", "must be strings"),
        ({"arrays": [{"name": "x", "bytes": ["!!"], "shape": [1]}]}, b"", "base64"),
        ({"arrays": "x"}, b"", "list of arrays"),
        ([1, 2], b"", "list of arrays"),
    ],
)
def test_forged_frames_are_refused(header: object, body: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode(*frame(header, body))


def test_a_pickle_is_never_read() -> None:
    with pytest.raises(WireError, match="not JSON"):
        decode(b"\x80\x04\x95\x00", b"")


def test_a_cut_frame_is_an_eof() -> None:
    data = encode({}, {"x": np.ones(4)})
    with pytest.raises(EOFError):
        read_frame(io.BytesIO(data[:-1]))
    assert read_frame(io.BytesIO(b"")) is None
    assert HEAD.size == struct.calcsize(">IQ")
