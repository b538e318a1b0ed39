"""How the projector applies recorded events to the read models, within one transaction.

Handlers write into one WriteBatch per read model (projections/write_batch.py), which
sends their statements grouped, as few executemany calls. A long batch (a catch-up, a
rebuild) is handled in slices of SLICE events: while one slice's statements are being
sent, the handlers go on with the next, so that the database's work and ours overlap.
The transaction's connection still does one thing at a time: the next slice is sent once
the one before is done, and a handler that reads first waits for it. While catching up,
a LogReader reads the next batch of the log while the one before is applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from app.adapters.event_store.port import EventStore, RecordedEvent
from app.adapters.sql.port import Tx
from app.services.serialization import EventMapper
from projections.base import EventInfo, Handler, Projection, event_name
from projections.write_batch import WriteBatch

SLICE = 500
# While a slice is being sent, the handlers of the next let it go on every so many events.
YIELD_EVERY = 10


class Applier:
    def __init__(self, projections: Sequence[Projection], mapper: EventMapper) -> None:
        self.projections = list(projections)
        self.mapper = mapper
        self._names = [p.name for p in self.projections]
        # Per event name: the projections that handle it (by index), with their handler.
        self._routes: dict[str, list[tuple[int, Handler]]] = {}
        for index, projection in enumerate(self.projections):
            for name, handler in projection.handlers().items():
                self._routes.setdefault(name, []).append((index, handler))
        self._by_topic: dict[str, list[tuple[int, Handler]]] = {}  # _routes by topic
        self._batch_handlers = [
            (p.name, batch_handler)
            for p in self.projections
            if (batch_handler := p.batch_handler()) is not None
        ]

    async def apply(
        self, tx: Tx, events: Sequence[RecordedEvent], positions: dict[str, int]
    ) -> None:
        """Apply the events each projection has not seen (past its position)."""
        seen = [positions[name] for name in self._names]
        sending: asyncio.Task[None] | None = None
        try:
            for first in range(0, len(events), SLICE):
                batches = [WriteBatch(tx, after=sending, merge=p.merge) for p in self.projections]
                infos = []
                for count, recorded in enumerate(events[first : first + SLICE]):
                    info = _info(recorded)
                    infos.append(info)
                    routes = self._routes_of(recorded.topic)
                    if routes:  # most events of a long log are read by the audit log only
                        await self._handle(batches, seen, recorded, info, routes)
                    if sending is not None and count % YIELD_EVERY == 0:
                        await asyncio.sleep(0)  # the slice before is being sent
                if sending is not None:
                    await sending
                    sending = None
                if first + SLICE >= len(events):
                    await self._send(tx, batches, infos, positions)
                else:
                    sending = asyncio.create_task(self._send(tx, batches, infos, positions))
        finally:
            if sending is not None:  # the transaction failed: stop before it ends
                await _stop(sending)

    async def _handle(
        self,
        batches: list[WriteBatch],
        seen: list[int],
        recorded: RecordedEvent,
        info: EventInfo,
        routes: list[tuple[int, Handler]],
    ) -> None:
        name = event_name(recorded.topic)
        domain_event = None  # decoded only when some read model handles this event
        for index, handler in routes:
            if seen[index] >= recorded.position:
                continue
            if domain_event is None:
                domain_event = self.mapper.to_domain_event(recorded)
            batch = batches[index]
            batch.key = self.projections[index].row_key(name, domain_event)
            await handler(batch, domain_event, info)

    def _routes_of(self, topic: str) -> list[tuple[int, Handler]]:
        routes = self._by_topic.get(topic)
        if routes is None:
            routes = self._by_topic[topic] = self._routes.get(event_name(topic), [])
        return routes

    async def _send(
        self,
        tx: Tx,
        batches: list[WriteBatch],
        infos: list[EventInfo],
        positions: dict[str, int],
    ) -> None:
        for batch in batches:
            await batch.flush()
        for name, batch_handler in self._batch_handlers:
            unseen = [i for i in infos if i.position > positions[name]]
            if unseen:
                await batch_handler(tx, unseen)


async def _stop(task: asyncio.Task[Any]) -> None:
    """Cancel the task and wait until it ends; what it raised is dropped (retrieved)."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


class LogReader:
    """Reads the log ``limit`` events at a time; with ``ahead``, the next batch while the
    caller applies the one before (when a batch was full, more likely follow), until
    :meth:`close`."""

    def __init__(self, store: EventStore, limit: int, *, ahead: bool = False) -> None:
        self.store = store
        self.limit = limit
        self.ahead = ahead
        self._ahead: tuple[int, asyncio.Task[list[RecordedEvent]]] | None = None

    async def read(self, after: int) -> list[RecordedEvent]:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == after:
            events = await ahead[1]
        else:
            if ahead is not None:
                await _stop(ahead[1])
            events = await self.store.read_log(after=after, limit=self.limit)
        if self.ahead and len(events) == self.limit:
            end = events[-1].position
            next_batch = self.store.read_log(after=end, limit=self.limit)
            self._ahead = (end, asyncio.create_task(next_batch))
        return events

    async def close(self) -> None:
        if self._ahead is not None:
            await _stop(self._ahead[1])
            self._ahead = None


def _info(recorded: RecordedEvent) -> EventInfo:
    meta = recorded.meta
    return EventInfo(
        recorded.position,
        recorded.originator_id,
        recorded.originator_version,
        recorded.topic,
        recorded.recorded_at,
        meta.actor,
        meta.request_id,
        meta.reason,
    )
