"""Loads aggregates from the event store (via snapshots, or this process's cache of what it
saved last) and saves their new events."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate, Snapshot

from app.adapters.event_store.port import (
    ConcurrencyConflict,
    EventMeta,
    EventStore,
    NewEvent,
    RecordedEvent,
)
from app.services.projector import ReadModelSync
from app.services.serialization import EventMapper
from domain.errors import NotFound

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")
Append = Callable[[Sequence[NewEvent], EventMeta], Awaitable[list[RecordedEvent]]]

SNAPSHOT_EVERY = 20
MAX_ATTEMPTS = 100
CACHE_SIZE = 10_000

# Set while a command runs (Commands.run): its loads may take aggregates from the cache,
# because it saves what it changes and a stale one then fails the save with a conflict.
_IN_COMMAND: ContextVar[bool] = ContextVar("modelrepo_in_command", default=False)
# The events a running command saved: Commands.run waits for the read models after it
# lets go of the aggregate's lock, so the next command on it need not wait for them too.
_SAVED: ContextVar[list[RecordedEvent] | None] = ContextVar("modelrepo_saved", default=None)


class AggregateCache:
    """The aggregates this process saved last, by id, for the next command on them: it
    skips reading the snapshot and the events since.

    A command takes an aggregate out (a concurrent command on it reads the store), and a
    save puts each aggregate back at its new version; one taken and not saved is simply
    gone. An aggregate that another process changed since is stale: the command's save
    fails with a conflict, and its retry reads the store because the entry was taken.
    Events of other processes seen in the log also drop stale entries (``saw``)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[UUID, Aggregate] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, aggregate_id: UUID) -> Aggregate | None:
        return self._entries.pop(aggregate_id, None)

    def put(self, aggregate: Aggregate) -> None:
        current = self._entries.get(aggregate.id)
        if current is not None and current.version > aggregate.version:
            return
        self._entries[aggregate.id] = aggregate
        self._entries.move_to_end(aggregate.id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def saw(self, events: Iterable[RecordedEvent]) -> None:
        """Drop entries older than these recorded events."""
        for event in events:
            current = self._entries.get(event.originator_id)
            if current is not None and current.version < event.originator_version:
                del self._entries[event.originator_id]


class Repository:
    def __init__(
        self, store: EventStore, mapper: EventMapper, snapshot_every: int = SNAPSHOT_EVERY
    ) -> None:
        self.store = store
        self.mapper = mapper
        self.snapshot_every = snapshot_every
        self.cache = AggregateCache()
        self.commands_running = 0  # by the Commands of every service (Commands.run)

    async def find(
        self, aggregate_id: UUID, cls: type[A], *, as_of: datetime | None = None
    ) -> A | None:
        """The aggregate's current state, or its state at ``as_of``; None if it did not exist."""
        aggregate: Any = None
        after: int | None = None
        if as_of is None and _IN_COMMAND.get():
            aggregate = self.cache.take(aggregate_id)
            if aggregate is not None:
                return aggregate if isinstance(aggregate, cls) else None
        if as_of is None:
            snapshot = await self.store.latest_snapshot(aggregate_id)
            if snapshot is not None:
                aggregate = self.mapper.to_domain_event(snapshot).mutate(None)  # type: ignore[attr-defined]
                after = snapshot.originator_version
        events = await self.store.read_aggregate(aggregate_id, after_version=after, until=as_of)
        for recorded in events:
            aggregate = self.mapper.to_domain_event(recorded).mutate(aggregate)  # type: ignore[attr-defined]
        if aggregate is not None and not isinstance(aggregate, cls):
            return None
        return aggregate

    async def get(
        self, aggregate_id: UUID, cls: type[A], *, kind: str, as_of: datetime | None = None
    ) -> A:
        aggregate = await self.find(aggregate_id, cls, as_of=as_of)
        if aggregate is None:
            raise NotFound(kind, str(aggregate_id))
        return aggregate

    async def save(
        self, *aggregates: Aggregate, meta: EventMeta, append: Append | None = None
    ) -> list[RecordedEvent]:
        """Append the pending events of all aggregates in one atomic batch (through
        ``append`` when given, else the store's record); returns them as recorded."""
        pending = [(agg, agg.collect_events()) for agg in aggregates]
        new_events = [self.mapper.to_new_event(e) for _, events in pending for e in events]
        recorded = await (append or self.store.record)(new_events, meta)
        for aggregate, events in pending:
            self.cache.put(aggregate)
            if events and self._crossed_snapshot(aggregate.version, len(events)):
                await self.store.write_snapshot(self._snapshot(aggregate))
        return recorded

    def _crossed_snapshot(self, version: int, count: int) -> bool:
        return version // self.snapshot_every > (version - count) // self.snapshot_every

    def _snapshot(self, aggregate: Aggregate) -> NewEvent:
        return self.mapper.to_new_event(Snapshot.take(aggregate))


class KeyedLocks:
    """In-process locks per aggregate id, so concurrent commands in one process queue
    instead of conflicting; other processes are still handled by optimistic retries."""

    def __init__(self) -> None:
        self._locks: dict[UUID, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: UUID) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


async def retry_on_conflict(command: Callable[[], Awaitable[T]]) -> T:
    """Run a load-decide-save command again when another writer got there first."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            return await command()
        except ConcurrencyConflict:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.001 * min(attempt, 20))
    raise AssertionError("unreachable")


class Commands:
    """How application services run a command: load, decide (in the domain), save — with
    commands on one aggregate queued in this process, retried when another process got
    there first, and returning only once the read models show the result."""

    def __init__(self, repository: Repository, projector: ReadModelSync) -> None:
        self.repo = repository
        self.projector = projector
        self._locks = KeyedLocks()

    async def save(self, *aggregates: Aggregate, meta: EventMeta) -> None:
        recorded = await self.repo.save(*aggregates, meta=meta, append=self._append)
        saved = _SAVED.get()
        if saved is not None:
            saved.extend(recorded)  # the running command waits for them (run)
        elif recorded:
            await self.projector.wait_for(recorded[-1].position, recorded)

    async def _append(self, events: Sequence[NewEvent], meta: EventMeta) -> list[RecordedEvent]:
        """Appended and projected at once when no other command runs in this process
        (the projector predicts the positions; concurrent commands do better appending
        apart and being projected together), else appended for the projector to apply."""
        if self.repo.commands_running <= 1:
            recorded = await self.projector.append_and_apply(events, meta)
            if recorded is not None:
                return recorded
        return await self.repo.store.record(events, meta)

    async def run(self, key: UUID | None, command: Callable[[], Awaitable[T]]) -> T:
        """Run a command; it returns once the read models show what it saved."""
        saved: list[RecordedEvent] = []
        in_command, saving = _IN_COMMAND.set(True), _SAVED.set(saved)
        self.repo.commands_running += 1
        try:
            try:
                if key is None:
                    result = await retry_on_conflict(command)
                else:
                    async with self._locks.hold(key):
                        result = await retry_on_conflict(command)
            finally:
                _IN_COMMAND.reset(in_command)
                _SAVED.reset(saving)
            if saved:
                await self.projector.wait_for(saved[-1].position, saved)
        finally:
            self.repo.commands_running -= 1
        return result

    async def change(
        self,
        aggregate_id: UUID,
        cls: type[A],
        kind: str,
        change: Callable[[A], T],
        *,
        meta: EventMeta,
    ) -> tuple[A, T]:
        """Load one aggregate, apply ``change`` (a domain command), save it."""

        async def command() -> tuple[A, T]:
            aggregate = await self.repo.get(aggregate_id, cls, kind=kind)
            result = change(aggregate)
            await self.save(aggregate, meta=meta)
            return aggregate, result

        return await self.run(aggregate_id, command)
