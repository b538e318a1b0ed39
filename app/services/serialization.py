"""Domain events <-> stored events, through the eventsourcing library's mapper."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)

from app.adapters.event_store.port import NewEvent, RecordedEvent


class EventMapper:
    def __init__(self) -> None:
        transcoder = JSONTranscoder()
        for transcoding in (UUIDAsHex(), DatetimeAsISO(), DecimalAsStr()):
            transcoder.register(transcoding)
        self._mapper: Mapper[Any] = Mapper(transcoder=transcoder)

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
