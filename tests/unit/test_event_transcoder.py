"""ORJSONTranscoder writes what the library's JSONTranscoder writes, byte for byte, and
reads every stored state as it reads it (the events already in databases among them)."""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    StoredEvent,
    TranscodingNotRegisteredError,
)
from eventsourcing.utils import get_topic

import domain
from app.services.serialization import TRANSCODINGS, ORJSONTranscoder

FAST = ORJSONTranscoder(TRANSCODINGS)
LIBRARY = JSONTranscoder()
for _transcoding in TRANSCODINGS:
    LIBRARY.register(_transcoding)

TEXT = 'naïve ✓ 🚀 "quoted" \\ back\nline\t\x00\u2028 end'
MOMENT = datetime(2026, 12, 8, 3, 52, 42, 891761, tzinfo=UTC)

PAYLOADS: list[Any] = [
    {},
    [],
    {"timestamp": MOMENT, "number": 1},
    {"text": TEXT, "ü": {"ключ": ["値", TEXT]}},
    {"ints": [0, -1, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, 2**70, -(2**70)]},
    {"big": 10**30},
    {"floats": [0.1, -0.0, 1e-05, 1e16, 1.5e300, 5e-324, 2.0**63, -(2.0**63), 1e19, 123.0]},
    {"special": [math.inf, -math.inf]},
    {"ids": [uuid4(), {"inner": uuid4()}], "id": UUID(int=0)},
    {"times": [MOMENT, MOMENT.astimezone(timezone(timedelta(hours=5, minutes=30)))]},
    {"money": Decimal("10.10"), "more": [Decimal("-0.000001"), Decimal("1E+3")]},
    {"nested": [[[{"a": [{"b": {"c": [MOMENT, None, True, False]}}]}]]]},
    {"_type_": "not typed", "_data_": "three keys", "other": 1},
    {"_type_": "uuid_hex"},
    {"_data_": "x", "y": 2},
    {"typed_list": {"_type_": "uuid_hex", "_data_": "ab" * 16}},
    [MOMENT, {"_type_": "decimal_str", "_data_": "1.5"}],
    "just text",
    12,
    2**80,
    None,
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_writes_and_reads_as_the_library(payload: Any) -> None:
    data = LIBRARY.encode(payload)
    assert FAST.encode(payload) == data
    assert _same(FAST.decode(data), LIBRARY.decode(data))


@pytest.mark.parametrize(
    "data",
    [
        b'{"x":NaN,"y":[Infinity,-Infinity]}',
        b'{"lone":"\\ud800"}',
        b'{"big":123456789012345678901234567890}',
        b"[18446744073709551616,-9223372036854775809]",
        b'{"float":1e400}',
        b'{"a":1,"a":{"_type_":"uuid_hex","_data_":"00000000000000000000000000000001"}}',
        b'  {"spaced" : [ 1 , 2 ] }  ',
        b'{"escaped":"\\u00e9\\n\\/"}',
    ],
)
def test_reads_what_only_json_reads_as_json_does(data: bytes) -> None:
    assert _same(FAST.decode(data), LIBRARY.decode(data))


def test_an_unknown_type_name_is_the_library_error() -> None:
    data = b'{"v":{"_type_":"nobody","_data_":"1"}}'
    with pytest.raises(TranscodingNotRegisteredError, match="'nobody'"):
        LIBRARY.decode(data)
    with pytest.raises(TranscodingNotRegisteredError, match="'nobody'"):
        FAST.decode(data)


def test_bad_bytes_fail_as_in_the_library() -> None:
    for data in (b"{", b"\xff\xfe", b""):
        with pytest.raises(ValueError) as library:
            LIBRARY.decode(data)
        with pytest.raises(ValueError) as fast:
            FAST.decode(data)
        assert type(fast.value) is type(library.value)


def _event_classes() -> list[type[Any]]:
    classes: list[type[Any]] = []
    for info in pkgutil.iter_modules(domain.__path__, "domain."):
        module = importlib.import_module(info.name)
        for aggregate in vars(module).values():
            if (
                isinstance(aggregate, type)
                and issubclass(aggregate, Aggregate)
                and aggregate.__module__ == module.__name__
            ):
                classes += [
                    cls
                    for cls in vars(aggregate).values()
                    if isinstance(cls, type) and issubclass(cls, Aggregate.Event)
                ]
    return classes


EVENT_CLASSES = _event_classes()


def _sample(annotation: str) -> Any:
    """A value for a field of this annotation, with what is hard to transcode in it."""
    if annotation.startswith(("list", "tuple", "Sequence")):
        return [_sample(annotation.partition("[")[2]) for _ in range(2)]
    if "UUID" in annotation:
        return uuid4()
    if "datetime" in annotation:
        return MOMENT
    if "Decimal" in annotation:
        return Decimal("0.30")
    if annotation.startswith("int"):
        return 2**64 + 7
    if annotation.startswith("float"):
        return 1e-05
    if annotation.startswith("bool"):
        return True
    if annotation.startswith("str"):
        return TEXT
    return {"k": [1, 2.5, TEXT, None, {"at": MOMENT, "id": uuid4()}], "é": {"n": 2**70}}


def test_every_domain_event_maps_as_with_the_library() -> None:
    assert len(EVENT_CLASSES) > 40
    fast, library = Mapper[UUID](transcoder=FAST), Mapper[UUID](transcoder=LIBRARY)
    for cls in EVENT_CLASSES:
        annotations: dict[str, str] = {}
        for base in reversed(cls.__mro__):
            annotations.update(getattr(base, "__annotations__", {}))
        state = {
            "timestamp": MOMENT,
            **{
                name: _sample(str(annotation))
                for name, annotation in annotations.items()
                if name not in ("originator_id", "originator_version", "timestamp")
            },
        }
        if getattr(cls, "class_version", 1) > 1:
            state["class_version"] = 1
        stored = StoredEvent(uuid4(), 3, get_topic(cls), LIBRARY.encode(state))
        assert FAST.encode(state) == stored.state, cls
        ours, theirs = fast.to_domain_event(stored), library.to_domain_event(stored)
        assert type(ours) is type(theirs), cls
        assert _same(vars(ours), vars(theirs)), cls


def test_stored_events_of_earlier_versions_read_as_with_the_library() -> None:
    fixture = json.loads(
        (Path(__file__).parents[1] / "old_name_claims.json").read_text(encoding="utf-8")
    )
    entries = [event for append in fixture["appends"] for event in append["events"]]
    states = [entry["state"].encode() for entry in [*entries, *fixture["snapshots"]]]
    assert len(states) > 40
    for data in states:
        assert _same(FAST.decode(data), LIBRARY.decode(data))
        assert FAST.encode(FAST.decode(data)) == LIBRARY.encode(LIBRARY.decode(data))


def _same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down (1 == 1.0 == True do not pass), NaN
    equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)
