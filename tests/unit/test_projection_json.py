"""projections.base.dumps writes exactly what json writes (the read models' JSON text),
whichever library writes it."""

from __future__ import annotations

import json
import math
import random
import struct
from enum import IntEnum, StrEnum
from typing import Any
from uuid import uuid4

import pytest

from projections.base import dumps


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Colour(StrEnum):
    RED = "red"


class Size(IntEnum):
    BIG = 2


def _floats() -> list[float]:
    rng = random.Random(19)
    values = [0.9, 1e-05, 1e-4, 1e16, 1e15, 1.5e300, 5e-324, -0.0, 0.1 + 0.2, 123.0, 2.0**63]
    for _ in range(3000):
        values.append(struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0])
        values.append(rng.random() * 10 ** rng.randint(-9, 22))
    return [v for v in values if math.isfinite(v)]


VALUES: list[Any] = [
    {},
    [],
    {"acc": 0.9, "loss": 1e-05, "n": 3},
    {"kind": "metadata", "uri": "s3://bench/seed-000000/1"},
    {"b": 1, "a": [True, False, None, (1, 2)], "é": {"Z": 1, "a": 2, "😀": 3, "\uffff": 4}},
    {"text": 'naïve ✓ "q" \\ \n\r\t\x00\x1f\x7f\u2028\u2029'},
    {"ints": [2**63 - 1, -(2**63), 2**64, 2**70, -(2**70)]},
    {"special": [math.nan, math.inf, -math.inf]},
    {"lone": "\ud800"},
    {1: "int key", 2: "x"},
    {"enum": Colour.RED, "int enum": Size.BIG},
    [[[{"deep": [1.5e-7, {"x": 2.5}]}]]],
    "text",
    7,
    None,
    *[{"v": v} for v in _floats()],
]


def test_writes_what_json_writes() -> None:
    for value in VALUES:
        assert dumps(value) == as_json(value), value


@pytest.mark.parametrize(
    "value", [{"id": uuid4()}, {"set": {1}}, {(1, 2): "tuple key"}, {1: "int", "s": "str"}]
)
def test_fails_where_json_fails(value: Any) -> None:
    with pytest.raises(TypeError) as expected:
        as_json(value)
    with pytest.raises(TypeError) as got:
        dumps(value)
    assert str(got.value) == str(expected.value)
