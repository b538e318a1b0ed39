"""Domain events <-> stored events, through the eventsourcing library's mapper."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoder,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from app.adapters.event_store.port import NewEvent, RecordedEvent

# Integers of 64 bits or more: orjson reads them as floats, json as ints.
_INT64 = float(2**63)


class _NotAsJSON(Exception):
    """orjson read something otherwise than json would."""


class ORJSONTranscoder(Transcoder):
    """The library's JSONTranscoder format, read by orjson: a rebuild decodes every event,
    and orjson with the walk below takes a third of JSONTranscoder's time (a json object
    hook, a Python call per object). Writes through JSONTranscoder itself, so the stored
    bytes stay exactly its own. Reads with orjson, then turns each
    ``{"_type_": name, "_data_": data}`` object into its value as JSONTranscoder's hook
    does, innermost first; what orjson reads otherwise than json (NaN and Infinity,
    integers of 64 bits or more, lone surrogates) is read by JSONTranscoder."""

    def __init__(self, transcodings: Sequence[Transcoding]) -> None:
        self._json = JSONTranscoder()
        for transcoding in transcodings:
            self._json.register(transcoding)
        self._names = {transcoding.name: transcoding for transcoding in transcodings}

    def encode(self, obj: Any) -> bytes:
        return self._json.encode(obj)

    def decode(self, data: bytes) -> Any:
        try:
            return self._revive(orjson.loads(data))
        except (orjson.JSONDecodeError, _NotAsJSON):
            return self._json.decode(data)

    def _revive(self, value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                kind = type(item)
                if kind is dict:
                    # Most objects in an event are typed values: no call for them.
                    if len(item) == 2 and type(item.get("_data_")) is str and "_type_" in item:
                        value[key] = self._typed(item["_type_"], item["_data_"])
                    else:
                        value[key] = self._revive(item)
                elif kind is list:
                    value[key] = self._revive(item)
                elif kind is float and abs(item) >= _INT64 and item.is_integer():
                    raise _NotAsJSON
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self._typed(value["_type_"], value["_data_"])
        elif kind is list:
            for index, item in enumerate(value):
                kind = type(item)
                if kind is dict or kind is list:
                    value[index] = self._revive(item)
                elif kind is float and abs(item) >= _INT64 and item.is_integer():
                    raise _NotAsJSON
        elif kind is float and abs(value) >= _INT64 and value.is_integer():
            raise _NotAsJSON
        return value

    def _typed(self, name: Any, data: Any) -> Any:
        try:
            transcoding = self._names[name]
        except KeyError:
            raise TranscodingNotRegisteredError(
                f"Data serialized with name '{name}' is not deserializable. Please register"
                " a custom transcoding for this type."
            ) from None
        return transcoding.decode(data)


TRANSCODINGS: tuple[Transcoding, ...] = (UUIDAsHex(), DatetimeAsISO(), DecimalAsStr())


class EventMapper:
    def __init__(self) -> None:
        self._mapper: Mapper[Any] = Mapper(transcoder=ORJSONTranscoder(TRANSCODINGS))

    def to_new_event(self, domain_event: DomainEventProtocol[Any]) -> NewEvent:
        stored = self._mapper.to_stored_event(domain_event)
        return NewEvent(
            originator_id=UUID(str(stored.originator_id)),
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=stored.state,
        )

    def to_domain_event(self, event: NewEvent | RecordedEvent) -> DomainEventProtocol[Any]:
        return self._mapper.to_domain_event(
            StoredEvent(
                originator_id=event.originator_id,
                originator_version=event.originator_version,
                topic=event.topic,
                state=event.state,
            )
        )

    def decode_state(self, event: NewEvent | RecordedEvent) -> dict[str, Any]:
        """The event's payload as plain data (for history views)."""
        state = self._mapper.transcoder.decode(event.state)
        return dict(state) if isinstance(state, dict) else {"value": state}
