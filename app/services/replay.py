"""An aggregate as it was at a past moment, rebuilt from the event log, with the recorded
events (who and when) it was rebuilt from. The read side of ``asOf`` queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from app.adapters.event_store.port import RecordedEvent
from app.services.repository import Repository

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True, slots=True)
class Past(Generic[A]):
    state: A
    events: list[RecordedEvent]  # oldest first; never empty

    @property
    def created(self) -> RecordedEvent:
        return self.events[0]

    @property
    def updated(self) -> RecordedEvent:
        return self.events[-1]


async def replay(
    repo: Repository, aggregate_id: UUID, cls: type[A], as_of: datetime
) -> Past[A] | None:
    """The aggregate's state at ``as_of`` (its events recorded at or before it); None if it
    did not exist yet or is of another type. Snapshots are not used: they hold the latest
    state, not a past one."""
    events = await repo.store.read_aggregate(aggregate_id, until=as_of)
    aggregate: Any = None
    for recorded in events:
        aggregate = repo.mapper.to_domain_event(recorded).mutate(aggregate)  # type: ignore[attr-defined]
    if aggregate is None or not isinstance(aggregate, cls):
        return None
    return Past(aggregate, events)
