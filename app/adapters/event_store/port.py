"""The event store port: an append-only log of serialized domain events.

Every row holds the originator id and version, the event topic, the serialized state, a
global position (unique, increasing, and never visible out of order), the time it was
recorded, and metadata: the actor, the request id and an optional reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from app.adapters.sql.port import Tx


class ConcurrencyConflict(Exception):
    """Another writer already appended an event at one of these (aggregate, version) pairs.

    Nothing of the batch was written."""


# Named tuples, not frozen dataclasses: a frozen dataclass sets each field through
# object.__setattr__, about 2 us an object here, and a rebuild reads a few of them per
# event.
class NewEvent(NamedTuple):
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


class EventMeta(NamedTuple):
    actor: str = "system"
    request_id: str = ""
    reason: str | None = None


class RecordedEvent(NamedTuple):
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes
    position: int
    recorded_at: datetime
    meta: EventMeta = EventMeta()


class EventStore(ABC):
    _appended: asyncio.Event | None = None
    _appended_elsewhere: asyncio.Event | None = None
    # The highest position this process knows was appended: by itself, or by another
    # process where the backend tells (PostgreSQL's notifications carry it); and the
    # highest this process appended itself.
    highest_appended: int = 0
    highest_appended_here: int = 0

    @abstractmethod
    async def setup(self) -> None:
        """Create the tables when missing."""

    async def close(self) -> None:
        """Release what setup opened beyond the database pool (listeners)."""
        self.notify_appended()  # nobody keeps waiting on a closed store

    async def wait_for_append(self, at_most: float, *, elsewhere: bool = False) -> None:
        """Return soon after an append (in this process, or another one where the backend
        can tell; with ``elsewhere``, only another one's) — or after ``at_most`` seconds,
        so followers also poll."""
        if elsewhere:
            if self._appended_elsewhere is None:
                self._appended_elsewhere = asyncio.Event()
            appended = self._appended_elsewhere
        else:
            if self._appended is None:
                self._appended = asyncio.Event()
            appended = self._appended
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await appended.wait()

    def notify_appended(self, position: int | None = None, *, here: bool = False) -> None:
        """Wake everyone waiting in wait_for_append (each wait wakes once); ``position``
        is the last one appended, when known; ``here``: by this process."""
        if position is not None:
            self.highest_appended = max(self.highest_appended, position)
            if here:
                self.highest_appended_here = max(self.highest_appended_here, position)
        waiting = [self._appended] if here else [self._appended, self._appended_elsewhere]
        self._appended = asyncio.Event()
        if not here:
            self._appended_elsewhere = asyncio.Event()
        for appended in waiting:
            if appended is not None:
                appended.set()

    async def append(self, events: Sequence[NewEvent], meta: EventMeta) -> list[int]:
        """Append all events atomically and return their positions, in order.

        Raises :class:`ConcurrencyConflict` (writing nothing) when any (originator id,
        originator version) is taken. An empty sequence writes nothing and returns []."""
        return [recorded.position for recorded in await self.record(events, meta)]

    @abstractmethod
    async def record(self, events: Sequence[NewEvent], meta: EventMeta) -> list[RecordedEvent]:
        """:meth:`append`, returning the events as recorded (positions and time), so the
        appending process can project them without reading them back."""

    def appending_transaction(self) -> AbstractAsyncContextManager[Tx] | None:
        """A read-model transaction that can also hold an append (:meth:`append_within`),
        all of it committed as one durable transaction; None where the store cannot (its
        database is not the read models')."""
        return None

    async def append_within(
        self, tx: Tx, events: Sequence[NewEvent], meta: EventMeta
    ) -> list[RecordedEvent]:
        """Append ``events`` in ``tx`` (an :meth:`appending_transaction`) and return them
        as recorded (the positions and time the store gave them); they are committed, and
        seen by others, with the transaction."""
        raise NotImplementedError("this store cannot append within a transaction")

    def as_conflict(self, exc: BaseException) -> ConcurrencyConflict | None:
        """``exc`` raised by an :meth:`appending_transaction` as the conflict it reports,
        if it reports an append's (a taken aggregate version)."""
        return None

    @abstractmethod
    async def read_aggregate(
        self,
        originator_id: UUID,
        *,
        after_version: int | None = None,
        until: datetime | None = None,
    ) -> list[RecordedEvent]:
        """One aggregate's events in version order: those after ``after_version`` and
        recorded at or before ``until`` when given."""

    @abstractmethod
    async def read_log(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events with position > ``after`` in position order, at most ``limit``."""

    @abstractmethod
    async def last_position(self) -> int:
        """The highest committed position, 0 for an empty log."""

    @abstractmethod
    async def write_snapshot(self, snapshot: NewEvent) -> None:
        """Store (or replace) a snapshot of an aggregate at ``snapshot.originator_version``."""

    @abstractmethod
    async def latest_snapshot(self, originator_id: UUID) -> NewEvent | None:
        """The snapshot with the highest version for this aggregate, if any."""
