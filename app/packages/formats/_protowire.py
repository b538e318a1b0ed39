"""A small reader of the protobuf wire format, enough to tell a serialized message from noise
without the message's generated classes (so no TensorFlow is needed to check a GraphDef)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

VARINT = 0
I64 = 1
LEN = 2
I32 = 5

WIRE_TYPE_NAMES = {VARINT: "varint", I64: "64-bit", LEN: "length-delimited", I32: "32-bit"}


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True, slots=True)
class Field:
    number: int
    wire_type: int
    # The value for varints; for length-delimited and fixed fields, the byte span.
    start: int
    end: int
    value: int = 0


def read_varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = 0
    for shift in range(0, 70, 7):
        if pos >= end:
            raise WireError("the data ends inside a number")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
    raise WireError("a number is longer than 10 bytes")


def iter_fields(data: memoryview, start: int = 0, end: int | None = None) -> Iterator[Field]:
    """The fields of the message in ``data[start:end]``; raises :class:`WireError`."""
    pos = start
    end = len(data) if end is None else end
    while pos < end:
        tag, pos = read_varint(data, pos, end)
        number, wire_type = tag >> 3, tag & 0x7
        if number == 0:
            raise WireError("a field has number 0")
        if wire_type == VARINT:
            value, after = read_varint(data, pos, end)
            yield Field(number, wire_type, pos, after, value)
            pos = after
            continue
        if wire_type == LEN:
            length, pos = read_varint(data, pos, end)
            size = length
        elif wire_type in (I64, I32):
            size = 8 if wire_type == I64 else 4
        else:
            raise WireError(f"field {number} has the invalid wire type {wire_type}")
        if pos + size > end:
            raise WireError(f"field {number} runs past the end of its message")
        yield Field(number, wire_type, pos, pos + size)
        pos += size


def text(data: memoryview, field: Field, what: str) -> str:
    """A string field's value; raises :class:`WireError` unless it is valid UTF-8."""
    try:
        return bytes(data[field.start : field.end]).decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(f"{what} is not valid UTF-8") from None


def expect(field: Field, wire_type: int, what: str) -> None:
    if field.wire_type != wire_type:
        raise WireError(
            f"field {field.number} ({what}) should be {WIRE_TYPE_NAMES[wire_type]} but is "
            f"{WIRE_TYPE_NAMES[field.wire_type]}"
        )
