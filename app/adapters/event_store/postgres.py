"""The event store on PostgreSQL through asyncpg.

An append takes ``LOCK TABLE events IN EXCLUSIVE MODE`` before it draws positions from the
sequence. Sequences are not transactional: without the lock, a writer could draw position
N, a second writer N+1 and commit first, and a reader following the log would move past N
before N becomes visible, never to see it. The lock makes draw order = commit order. It
does not block readers (plain SELECTs take ACCESS SHARE).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.adapters.event_store.port import (
    ConcurrencyConflict,
    EventMeta,
    EventStore,
    NewEvent,
    RecordedEvent,
)
from app.adapters.sql.port import Tx
from app.adapters.sql.postgres import PostgresDatabase

# Serializes schema creation across processes: concurrent CREATE TABLE IF NOT EXISTS can
# still fail on the catalog's unique index.
SETUP_LOCK_KEY = 0x6D6F64656C7265  # "modelre"

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS events (
        position BIGSERIAL PRIMARY KEY,
        originator_id UUID NOT NULL,
        originator_version INTEGER NOT NULL,
        topic TEXT NOT NULL,
        state BYTEA NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL,
        actor TEXT NOT NULL,
        request_id TEXT NOT NULL,
        reason TEXT,
        UNIQUE (originator_id, originator_version)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS snapshots (
        originator_id UUID NOT NULL,
        originator_version INTEGER NOT NULL,
        topic TEXT NOT NULL,
        state BYTEA NOT NULL,
        PRIMARY KEY (originator_id, originator_version)
    )
    """,
)

# The append is one function call, so one round trip in its own implicit transaction: the
# table lock is held only while the server inserts and commits, never across a network
# round trip, which is what bounds append throughput under contention (append_within, the
# exception, holds it until its transaction commits: the projector only does that when
# nothing else is being appended or projected in its process). The time is the
# appending process's clock (p_at), never earlier than the last event's (so time order =
# position order even if a clock steps back or two processes' clocks differ). ORDER BY
# the ordinality draws positions in the caller's order.
# Older versions of the store had a function without p_at (7 arguments, returning
# positions only or positions and times): dropped, as a call could not choose.
DROP_OLD_APPEND_FUNCTIONS = """
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_proc WHERE proname = 'events_append' AND pronargs = 7
    ) THEN
        DROP FUNCTION events_append(UUID[], INTEGER[], TEXT[], BYTEA[], TEXT, TEXT, TEXT);
    END IF;
END
$$
"""
APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION events_append(
    p_ids UUID[], p_versions INTEGER[], p_topics TEXT[], p_states BYTEA[],
    p_actor TEXT, p_request_id TEXT, p_reason TEXT, p_at TIMESTAMPTZ
) RETURNS TABLE (out_position BIGINT, out_recorded_at TIMESTAMPTZ) LANGUAGE plpgsql AS $body$
BEGIN
    LOCK TABLE events IN EXCLUSIVE MODE;
    RETURN QUERY
    WITH now AS MATERIALIZED (
        SELECT GREATEST(
            p_at,
            (SELECT e.recorded_at FROM events e ORDER BY e.position DESC LIMIT 1)
        ) AS ts
    )
    INSERT INTO events (
        originator_id, originator_version, topic, state, recorded_at,
        actor, request_id, reason
    )
    SELECT b.id, b.version, b.topic, b.state, now.ts, p_actor, p_request_id, p_reason
    FROM now, unnest(p_ids, p_versions, p_topics, p_states)
        WITH ORDINALITY AS b(id, version, topic, state, n)
    ORDER BY b.n
    RETURNING events.position, events.recorded_at;
    -- Delivered at commit: followers in other processes wake up (LISTEN modelrepo_events),
    -- told the last position (lastval: the sequence's last draw in this session). Left
    -- out when the transaction set modelrepo.notify to off: the appending process saw
    -- no other process listening (PostgresEventStore.append_within).
    IF current_setting('modelrepo.notify', true) IS DISTINCT FROM 'off' THEN
        PERFORM pg_notify('modelrepo_events', lastval()::text);
    END IF;
END
$body$
"""
# The listening connection's application_name, by which processes find each other's.
LISTENER_APPLICATION = "modelrepo-listener"
# How often a listening process looks for other processes' listeners.
LISTENERS_CHECK_SECONDS = 1.0
_OTHERS_LISTENING = (
    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
    " AND application_name = $1 AND pid <> pg_backend_pid())"
)
# For the rest of the transaction: append without notifying.
_QUIET = "SELECT set_config('modelrepo.notify', 'off', true)"

_APPEND = "SELECT * FROM events_append($1, $2, $3, $4, $5, $6, $7, $8)"


def _append_args(events: Sequence[NewEvent], meta: EventMeta, at: datetime) -> tuple[Any, ...]:
    return (
        [e.originator_id for e in events],
        [e.originator_version for e in events],
        [e.topic for e in events],
        [e.state for e in events],
        meta.actor,
        meta.request_id,
        meta.reason,
        at,
    )


def now() -> datetime:
    return datetime.now(UTC)


_COLUMNS = (
    "position, originator_id, originator_version, topic, state, recorded_at, actor, "
    "request_id, reason"
)


def _records(rows: Sequence[asyncpg.Record]) -> list[RecordedEvent]:
    """Rows of _COLUMNS as events. The events of one append share their metadata: one
    EventMeta for them."""
    metas: dict[tuple[str, str, str | None], EventMeta] = {}
    events = []
    for position, originator_id, version, topic, state, at, actor, request_id, reason in rows:
        meta = metas.get((actor, request_id, reason))
        if meta is None:
            meta = metas[actor, request_id, reason] = EventMeta(actor, request_id, reason)
        # asyncpg's UUID subclass would leak into aggregates and their serialized state.
        events.append(
            RecordedEvent(UUID(int=originator_id.int), version, topic, state, position, at, meta)
        )
    return events


def _as_recorded(
    events: Sequence[NewEvent], meta: EventMeta, rows: Sequence[tuple[int, datetime]]
) -> list[RecordedEvent]:
    """The events with the (position, recorded_at) rows events_append returned for them
    (in position order, which is the events' order)."""
    return [
        RecordedEvent(e.originator_id, e.originator_version, e.topic, e.state, p, at, meta)
        for e, (p, at) in zip(events, sorted(rows, key=lambda row: row[0]), strict=True)
    ]


class PostgresEventStore(EventStore):
    """Appends notify other processes' listeners (see APPEND_FUNCTION). A process that
    listens itself checks every LISTENERS_CHECK_SECONDS whether any other process does;
    while none does, its appends with their projection (append_within) notify nobody,
    which spares on every write waking the PostgreSQL process behind its listening
    connection, and then itself, for a notice of its own append.
    A process that starts listening meanwhile finds those appends within its followers'
    poll interval; from the next check on, it is notified again."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._listener: asyncpg.Connection | None = None
        # Until a check says otherwise (and in processes that never listen): notify.
        self.others_listening = True
        self._listeners_checked_at = -math.inf
        self._checking_listeners = False

    async def setup(self) -> None:
        async with self._db.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SETUP_LOCK_KEY)
            for statement in (*SCHEMA, DROP_OLD_APPEND_FUNCTIONS, APPEND_FUNCTION):
                await conn.execute(statement)

    async def wait_for_append(self, at_most: float, *, elsewhere: bool = False) -> None:
        if self._listener is None:
            # A connection of its own, opened by the first follower: LISTEN holds it for
            # the life of the store.
            self._listener = await asyncpg.connect(
                self._db.dsn, server_settings={"application_name": LISTENER_APPLICATION}
            )
            await self._listener.add_listener("modelrepo_events", self._on_notify)
        await self._check_listeners(self._listener)
        await super().wait_for_append(at_most, elsewhere=elsewhere)

    async def _check_listeners(self, listener: asyncpg.Connection) -> None:
        """Whether another process listens, looked up at most every
        LISTENERS_CHECK_SECONDS, one lookup at a time (followers wait concurrently); when
        the lookup fails or takes too long, appends notify."""
        now = time.monotonic()
        if self._checking_listeners or now - self._listeners_checked_at < LISTENERS_CHECK_SECONDS:
            return
        self._checking_listeners = True
        try:
            self.others_listening = bool(
                await listener.fetchval(
                    _OTHERS_LISTENING, LISTENER_APPLICATION, timeout=LISTENERS_CHECK_SECONDS + 1
                )
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):  # TimeoutError too
            self.others_listening = True
        finally:
            self._listeners_checked_at = time.monotonic()
            self._checking_listeners = False

    def _on_notify(self, _conn: object, pid: int, _channel: str, payload: object) -> None:
        text = str(payload)
        position = int(text) if text.isdigit() else None
        # Our own appends' notices may overtake the append's reply: known by the sender.
        self.notify_appended(position, here=pid in self._db.backend_pids)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        await super().close()

    async def record(self, events: Sequence[NewEvent], meta: EventMeta) -> list[RecordedEvent]:
        if not events:
            return []
        try:
            rows = await self._db.pool.fetch(_APPEND, *_append_args(events, meta, now()))
        except asyncpg.UniqueViolationError as exc:
            raise ConcurrencyConflict(str(exc)) from exc
        recorded = _as_recorded(events, meta, [(row[0], row[1]) for row in rows])
        self.notify_appended(recorded[-1].position, here=True)
        return recorded

    def appending_transaction(self) -> AbstractAsyncContextManager[Tx]:
        return self._db.transaction()

    async def append_within(
        self, tx: Tx, events: Sequence[NewEvent], meta: EventMeta
    ) -> list[RecordedEvent]:
        if not self.others_listening:
            await tx.execute(_QUIET)
        rows = await tx.fetch(_APPEND, *_append_args(events, meta, now()))
        return _as_recorded(
            events, meta, [(row["out_position"], row["out_recorded_at"]) for row in rows]
        )

    def as_conflict(self, exc: BaseException) -> ConcurrencyConflict | None:
        if isinstance(exc, asyncpg.UniqueViolationError) and exc.table_name == "events":
            return ConcurrencyConflict(str(exc))
        return None

    async def read_aggregate(
        self,
        originator_id: UUID,
        *,
        after_version: int | None = None,
        until: datetime | None = None,
    ) -> list[RecordedEvent]:
        if until is not None and until.utcoffset() is None:
            raise ValueError("until must be timezone-aware")
        sql = f"SELECT {_COLUMNS} FROM events WHERE originator_id = $1"
        args: list[Any] = [originator_id]
        if after_version is not None:
            args.append(after_version)
            sql += f" AND originator_version > ${len(args)}"
        if until is not None:
            args.append(until)
            sql += f" AND recorded_at <= ${len(args)}"
        rows = await self._db.pool.fetch(sql + " ORDER BY originator_version", *args)
        return _records(rows)

    async def read_log(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        rows = await self._db.pool.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
            after,
            limit,
        )
        return _records(rows)

    async def last_position(self) -> int:
        position = await self._db.pool.fetchval("SELECT max(position) FROM events")
        return int(position or 0)

    async def write_snapshot(self, snapshot: NewEvent) -> None:
        # A snapshot only saves reading its events, which are on disk already: its commit
        # need not wait for the disk (a crash can lose it; loads then start earlier).
        async with self._db.transaction(durable=False) as tx:
            await tx.execute(
                "INSERT INTO snapshots (originator_id, originator_version, topic, state) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (originator_id, originator_version) "
                "DO UPDATE SET topic = excluded.topic, state = excluded.state",
                snapshot.originator_id,
                snapshot.originator_version,
                snapshot.topic,
                snapshot.state,
            )

    async def latest_snapshot(self, originator_id: UUID) -> NewEvent | None:
        row = await self._db.pool.fetchrow(
            "SELECT originator_version, topic, state FROM snapshots WHERE originator_id = $1 "
            "ORDER BY originator_version DESC LIMIT 1",
            originator_id,
        )
        if row is None:
            return None
        return NewEvent(originator_id, row["originator_version"], row["topic"], row["state"])
