"""Runs the projections: reads the log after each projection's position and applies it.

Each batch is one transaction that locks the projections' position rows, applies the
events each projection has not seen, and moves the positions: rows and positions commit
together (exactly once), and several server processes can share one database because
the locked position decides who applied what.

Events this process appended itself are applied from memory (the commands that appended
them wait here for read-your-writes), and when they come right where this process left
every projection, one statement claims them instead (it moves every position, or matches
fewer rows and the locked way above takes over). Read-model transactions are not
durable (Database.transaction(durable=False)): a crash can only lose what the log
applies again.

Where the store can (PostgreSQL), a command that finds nothing else being appended or
projected in this process appends and projects in one durable transaction
(append_and_apply): the store's append answers with the events' positions and time, and
when they come right after this projector's position it claims them as above; when they
do not (another process appended meanwhile, or a failed append used up positions), the
transaction writes nothing and the command goes the usual way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from app.adapters.event_store.port import EventMeta, EventStore, NewEvent, RecordedEvent
from app.adapters.sql.port import Database, ExpectationFailed, Tx
from app.services.applier import Applier, LogReader
from app.services.serialization import EventMapper
from projections.base import Projection

log = logging.getLogger(__name__)

BATCH = 500
# Events per transaction when catching up with the log (at start, after others' appends, in
# a rebuild): their writes go in one WriteBatch per read model.
CATCH_UP_BATCH = 5000
POSITIONS_LOCK_KEY = 7420002  # pg_advisory_xact_lock: see Projector._serialize
# Commands that append the usual way after one that could not claim its events
# (append_and_apply).
FALLBACK_SKIPS = 16
# Appended to a projection's schema hash while a rebuild has not created its indexes yet.
UNINDEXED = "+unindexed"
STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_state ("
    " name TEXT PRIMARY KEY, position BIGINT NOT NULL, schema_hash TEXT NOT NULL)"
)


def schema_hash(projection: Projection) -> str:
    """Changes whenever a projection's tables change, so stale read models get rebuilt."""
    text = "\n".join([*projection.tables, *projection.ddl])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ReadModelSync(Protocol):
    """What commands need of the read side: read-your-writes."""

    async def wait_for(self, position: int, appended: Sequence[RecordedEvent] = ()) -> None: ...

    async def append_and_apply(
        self, events: Sequence[NewEvent], meta: EventMeta
    ) -> list[RecordedEvent] | None: ...


class Projector:
    def __init__(
        self,
        db: Database,
        store: EventStore,
        mapper: EventMapper,
        projections: Sequence[Projection],
        *,
        seen: Callable[[Sequence[RecordedEvent]], None] | None = None,
    ) -> None:
        """``seen`` is told of the events read from the log (others' among them)."""
        self.db = db
        self._seen = seen
        self.store = store
        self.mapper = mapper
        self.projections = list(projections)
        self.position = 0
        # Events this process appended and has not projected yet, by position: a batch that
        # starts at one of them takes them (and the run after it) instead of reading the log.
        self._appended: dict[int, RecordedEvent] = {}
        self._lock = asyncio.Lock()
        self._fell_back = 0
        self._names = [p.name for p in self.projections]
        names = ", ".join(f"${i + 3}" for i in range(len(self._names)))
        self._claim_sql = (
            "UPDATE projection_state SET position = $1"
            f" WHERE position = $2 AND name IN ({names}) RETURNING name"
        )
        self._applier = Applier(self.projections, mapper)

    async def setup(self) -> None:
        """Create the read-model tables. A projection whose tables changed since they were
        built (its schema hash differs) is dropped and rebuilt from the log."""
        async with self.db.transaction() as tx:
            if self.db.dialect == "postgres":
                # Two processes starting at once must not race on CREATE TABLE.
                await tx.execute("SELECT pg_advisory_xact_lock(7420001)")
            await tx.execute(STATE_DDL)
            for projection in self.projections:
                wanted = schema_hash(projection)
                built = await tx.fetchval(
                    "SELECT schema_hash FROM projection_state WHERE name = $1", projection.name
                )
                if built == wanted + UNINDEXED:  # a rebuild stopped before its indexes
                    await _build_indexes(tx, projection)
                elif built != wanted:
                    if built is not None:
                        log.warning("read model %r changed; rebuilding it", projection.name)
                    await _recreate(tx, projection)
                    await tx.execute(
                        "INSERT INTO projection_state (name, position, schema_hash)"
                        " VALUES ($1, 0, $2) ON CONFLICT (name) DO UPDATE"
                        " SET position = 0, schema_hash = $2",
                        projection.name,
                        wanted,
                    )

    async def wait_for(self, position: int, appended: Sequence[RecordedEvent] = ()) -> None:
        """Return once every projection has applied the log up to ``position``.
        ``appended``: the caller's events as recorded, when it has them; concurrent callers'
        events are applied together, in one transaction, when they follow each other."""
        for recorded in appended:
            if recorded.position > self.position:
                self._appended[recorded.position] = recorded
        while self.position < position:
            async with self._lock:
                # The caller's events are committed, so skip the "anything new?" query.
                while self.position < position and await self._apply_batch():
                    pass
            if self.position < position:
                await asyncio.sleep(0.001)  # not visible yet (another writer's lock)

    async def catch_up(self) -> int:
        """Apply everything committed so far; returns the position reached."""
        async with self._lock:
            await self._catch_up()
        return self.position

    async def _catch_up(self) -> None:
        reader = LogReader(self.store, CATCH_UP_BATCH, ahead=True)
        try:
            while True:
                last = await self.store.last_position()
                if last <= self.position:
                    return
                if not await self._apply_batch(reader):
                    return
        finally:
            await reader.close()

    async def _apply_batch(self, reader: LogReader | None = None) -> bool:
        """Apply the next events in one transaction (those appended here, or a batch of
        the log from ``reader``, BATCH events by default); False when there were none."""
        own = self._take_appended(self.position)
        if own and await self._apply_claimed(own):
            return True
        return await self._apply_locked(reader or LogReader(self.store, BATCH))

    async def append_and_apply(
        self, events: Sequence[NewEvent], meta: EventMeta
    ) -> list[RecordedEvent] | None:
        """When nothing else is being projected here and the store can: append ``events``
        and apply them to every read model in one durable transaction. Returns them as
        recorded, or None, having written nothing, when this cannot be done or they do not
        follow this projector's position (another process appended or projected, an
        earlier append left a gap in the positions); then the caller appends, and the
        events are applied, as usual, and so do the next few commands."""
        if not events or self._lock.locked() or self._appended:
            return None
        if self._fell_back > 0:
            self._fell_back -= 1
            return None
        transaction = self.store.appending_transaction()
        if transaction is None:
            return None
        async with self._lock:
            start = self.position
            try:
                async with self._settling(), transaction as tx:
                    recorded = await self.store.append_within(tx, events, meta)
                    if recorded[0].position != start + 1:
                        raise ExpectationFailed(f"appended after {start + 1}: not next")
                    end = recorded[-1].position
                    await self._claim(tx, start, end)
                    await self._applier.apply(tx, recorded, dict.fromkeys(self._names, start))
            except ExpectationFailed:
                self._fell_back = FALLBACK_SKIPS
                return None
            except Exception as exc:
                conflict = self.store.as_conflict(exc)
                if conflict is not None:
                    raise conflict from exc
                raise
            self._advance(end)
        self.store.notify_appended(end, here=True)
        return recorded

    async def _apply_claimed(self, events: list[RecordedEvent]) -> bool:
        """The common case: this process's own events, right after where it left every
        projection. One statement claims them (moves every position from just before
        them to their end); if another process moved a position, it matches fewer rows,
        the transaction rolls back and the locked path takes over."""
        start, end = events[0].position - 1, events[-1].position
        try:
            async with self._settling(), self.db.transaction(durable=False) as tx:
                await self._claim(tx, start, end)
                await self._applier.apply(tx, events, dict.fromkeys(self._names, start))
        except ExpectationFailed:
            return False
        self._advance(end)
        return True

    @contextlib.asynccontextmanager
    async def _settling(self) -> AsyncIterator[None]:
        """Tells every projection how the transaction its handlers ran in ended."""
        committed = False
        try:
            yield
            committed = True
        finally:
            for projection in self.projections:
                projection.transaction_ended(committed=committed)

    async def _apply_locked(self, reader: LogReader) -> bool:
        """Lock the positions, then apply what the projections have not seen: this
        process's appended events when they come next, otherwise the log."""
        async with self._settling(), self.db.transaction(durable=False) as tx:
            positions = await self._lock_positions(tx)
            start = min(positions.values())
            events = self._take_appended(start)
            if not events:
                events = await reader.read(after=start)
                if self._seen is not None:
                    self._seen(events)
            if not events:
                self.position = start
                return False
            await self._applier.apply(tx, events, positions)
            end = events[-1].position
            await tx.executemany(
                "UPDATE projection_state SET position = $2 WHERE name = $1",
                [(name, max(pos, end)) for name, pos in positions.items()],
            )
        self._advance(end)
        return True

    def _advance(self, end: int) -> None:
        self.position = end
        for position in [p for p in self._appended if p <= end]:
            del self._appended[position]

    def _take_appended(self, start: int) -> list[RecordedEvent]:
        """This process's appended events from ``start + 1`` on, while they are consecutive
        (a gap is another process's event: then the log is read)."""
        events: list[RecordedEvent] = []
        while len(events) < BATCH and (recorded := self._appended.get(start + 1)) is not None:
            events.append(recorded)
            start += 1
        return events

    async def _claim(self, tx: Tx, start: int, end: int) -> None:
        """Move every position from ``start`` to ``end``; the transaction fails
        (ExpectationFailed) unless all of them were at ``start``."""
        await self._serialize(tx)
        await tx.expect(self._claim_sql, end, start, *self._names, rows=len(self._names))

    async def _serialize(self, tx: Tx) -> None:
        """Transactions that lock position rows take this lock first (PostgreSQL; SQLite
        has one writer at a time), so they never wait for each other's rows in opposite
        orders: a claim's plain UPDATE locks the rows in the order it finds them, which
        is cheaper than locking them in name order first (SELECT ... FOR UPDATE writes
        each row twice)."""
        if self.db.dialect == "postgres":
            await tx.execute("SELECT pg_advisory_xact_lock($1)", POSITIONS_LOCK_KEY)

    async def _lock_positions(self, tx: Tx) -> dict[str, int]:
        await self._serialize(tx)
        placeholders = ", ".join(f"${i + 1}" for i in range(len(self._names)))
        rows = await tx.fetch(
            "SELECT name, position FROM projection_state"
            f" WHERE name IN ({placeholders}) ORDER BY name{self.db.for_update}",
            *self._names,
        )
        positions = {r["name"]: int(r["position"]) for r in rows}
        missing = set(self._names) - positions.keys()
        if missing:
            raise RuntimeError(f"projections not set up: {sorted(missing)}")
        return positions

    async def rebuild(self, names: Sequence[str] | None = None) -> int:
        """Drop and rebuild projections (all by default) from the log; returns the position
        reached. Their secondary indexes are created once the log is applied (building an
        index over the rows costs a fraction of keeping it up to date row by row); until
        then the state table marks them UNINDEXED, so that a start-up after a rebuild
        that stopped halfway creates them (setup)."""
        chosen = [p for p in self.projections if names is None or p.name in names]
        unknown = set(names or ()) - {p.name for p in chosen}
        if unknown:
            raise ValueError(f"unknown projections: {', '.join(sorted(unknown))}")
        async with self._lock:
            async with self.db.transaction() as tx:
                await self._lock_positions(tx)
                for projection in chosen:
                    await _recreate(tx, projection, indexes=False)
                    await tx.execute(
                        "UPDATE projection_state SET position = 0, schema_hash = $2"
                        " WHERE name = $1",
                        projection.name,
                        schema_hash(projection) + UNINDEXED,
                    )
            self.position = 0
            await self._catch_up()
            async with self.db.transaction() as tx:
                for projection in chosen:
                    await _build_indexes(tx, projection)
        return self.position

    async def run(self, interval: float = 0.5) -> None:
        """Follow the log written by other processes until cancelled. Appends of this
        process are projected by the commands that made them (they wait for them), so only
        news of a later position, or the poll interval, starts a round."""
        while True:
            try:
                await self.catch_up()
            except Exception:  # keep following; the next round retries
                log.exception("projection catch-up failed")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + interval
            while (left := deadline - loop.time()) > 0:
                await self.store.wait_for_append(left, elsewhere=True)
                if self.store.highest_appended > max(
                    self.position, self.store.highest_appended_here
                ):
                    break


async def _recreate(tx: Tx, projection: Projection, *, indexes: bool = True) -> None:
    for table in projection.tables:
        await tx.execute(f"DROP TABLE IF EXISTS {table}")
    for statement in projection.ddl:
        if indexes or not _is_index(statement):
            await tx.execute(statement)


async def _build_indexes(tx: Tx, projection: Projection) -> None:
    """Create the projection's secondary indexes, and mark it built."""
    for statement in projection.ddl:
        if _is_index(statement):
            await tx.execute(statement)
    await tx.execute(
        "UPDATE projection_state SET schema_hash = $2 WHERE name = $1",
        projection.name,
        schema_hash(projection),
    )


def _is_index(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("CREATE INDEX", "CREATE UNIQUE INDEX"))


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
