"""An in-memory event store for unit tests, with the same contract as the SQL adapters."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from app.adapters.event_store.port import (
    ConcurrencyConflict,
    EventMeta,
    EventStore,
    NewEvent,
    RecordedEvent,
)


class InMemoryEventStore(EventStore):
    """Appends never await, so on one event loop each batch is atomic without a lock."""

    def __init__(self) -> None:
        self._log: list[RecordedEvent] = []
        self._by_aggregate: dict[UUID, list[RecordedEvent]] = {}
        self._keys: set[tuple[UUID, int]] = set()
        self._snapshots: dict[UUID, dict[int, NewEvent]] = {}

    async def setup(self) -> None:
        pass

    async def record(self, events: Sequence[NewEvent], meta: EventMeta) -> list[RecordedEvent]:
        if not events:
            return []
        keys = [(e.originator_id, e.originator_version) for e in events]
        if len(set(keys)) != len(keys) or not self._keys.isdisjoint(keys):
            raise ConcurrencyConflict(f"an (aggregate, version) of {keys} is taken")
        now = datetime.now(UTC)
        if self._log and self._log[-1].recorded_at > now:
            now = self._log[-1].recorded_at  # keep time order = position order
        first = self._log[-1].position + 1 if self._log else 1
        appended = []
        for position, event in enumerate(events, start=first):
            recorded = RecordedEvent(
                originator_id=event.originator_id,
                originator_version=event.originator_version,
                topic=event.topic,
                state=event.state,
                position=position,
                recorded_at=now,
                meta=meta,
            )
            self._log.append(recorded)
            appended.append(recorded)
            history = self._by_aggregate.setdefault(event.originator_id, [])
            bisect.insort(history, recorded, key=lambda r: r.originator_version)
        self._keys.update(keys)
        self.notify_appended(appended[-1].position, here=True)
        return appended

    async def read_aggregate(
        self,
        originator_id: UUID,
        *,
        after_version: int | None = None,
        until: datetime | None = None,
    ) -> list[RecordedEvent]:
        if until is not None and until.utcoffset() is None:
            raise ValueError("until must be timezone-aware")
        return [
            r
            for r in self._by_aggregate.get(originator_id, ())
            if (after_version is None or r.originator_version > after_version)
            and (until is None or r.recorded_at <= until)
        ]

    async def read_log(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        # Positions are dense from 1 here, so position p sits at index p - 1.
        start = max(after, 0)
        return self._log[start : start + max(limit, 0)]

    async def last_position(self) -> int:
        return self._log[-1].position if self._log else 0

    async def write_snapshot(self, snapshot: NewEvent) -> None:
        versions = self._snapshots.setdefault(snapshot.originator_id, {})
        versions[snapshot.originator_version] = snapshot

    async def latest_snapshot(self, originator_id: UUID) -> NewEvent | None:
        versions = self._snapshots.get(originator_id)
        return versions[max(versions)] if versions else None
