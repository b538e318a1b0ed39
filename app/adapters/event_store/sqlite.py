"""The event store on SQLite.

Every append runs under ``BEGIN IMMEDIATE``, which takes the database's single write lock
(across processes too, waiting up to the busy timeout), so positions are assigned and
committed in the same order and a reader never sees position N+1 before N.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from app.adapters.event_store.port import (
    ConcurrencyConflict,
    EventMeta,
    EventStore,
    NewEvent,
    RecordedEvent,
)
from app.adapters.sql.port import Row
from app.adapters.sql.sqlite import SqliteDatabase

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS events (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        originator_id TEXT NOT NULL,
        originator_version INTEGER NOT NULL,
        topic TEXT NOT NULL,
        state BLOB NOT NULL,
        recorded_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        request_id TEXT NOT NULL,
        reason TEXT,
        UNIQUE (originator_id, originator_version)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS snapshots (
        originator_id TEXT NOT NULL,
        originator_version INTEGER NOT NULL,
        topic TEXT NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (originator_id, originator_version)
    )
    """,
)

_COLUMNS = (
    "position, originator_id, originator_version, topic, state, recorded_at, actor, "
    "request_id, reason"
)
_INSERT = (
    "INSERT INTO events (originator_id, originator_version, topic, state, recorded_at, "
    "actor, request_id, reason) VALUES ($1, $2, $3, $4, max($5, coalesce("
    "(SELECT recorded_at FROM events ORDER BY position DESC LIMIT 1), '')), $6, $7, $8)"
)


def utc_text(moment: datetime) -> str:
    """Fixed-width ISO-8601 in UTC, so that comparing the text compares the times."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _recorded(row: Row) -> RecordedEvent:
    return RecordedEvent(
        originator_id=UUID(row["originator_id"]),
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
        position=row["position"],
        recorded_at=datetime.fromisoformat(row["recorded_at"]),
        meta=EventMeta(actor=row["actor"], request_id=row["request_id"], reason=row["reason"]),
    )


class SqliteEventStore(EventStore):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def setup(self) -> None:
        await self._db.script(SCHEMA)

    async def record(self, events: Sequence[NewEvent], meta: EventMeta) -> list[RecordedEvent]:
        if not events:
            return []
        try:
            async with self._db.transaction() as tx:
                # Each time is at least the last recorded one (the subquery runs under the
                # write lock), so no later position carries an earlier time even if the wall
                # clock steps back; and the batch is one call: BEGIN, inserts, the last rowid.
                now = utc_text(datetime.now(UTC))
                await tx.executemany(
                    _INSERT,
                    [
                        (
                            str(e.originator_id),
                            e.originator_version,
                            e.topic,
                            e.state,
                            now,
                            meta.actor,
                            meta.request_id,
                            meta.reason,
                        )
                        for e in events
                    ],
                )
                # Nobody else can insert while we hold the write lock, so the batch got
                # consecutive positions ending at the last inserted rowid (all at one time).
                last = await tx.fetchrow(
                    "SELECT position, recorded_at FROM events WHERE position = last_insert_rowid()"
                )
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorname != "SQLITE_CONSTRAINT_UNIQUE":
                raise
            raise ConcurrencyConflict(str(exc)) from exc
        assert last is not None
        end: int = last["position"]
        at = datetime.fromisoformat(last["recorded_at"])
        self.notify_appended(end, here=True)
        first = end - len(events) + 1
        return [
            RecordedEvent(e.originator_id, e.originator_version, e.topic, e.state, p, at, meta)
            for p, e in enumerate(events, start=first)
        ]

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
        args: list[Any] = [str(originator_id)]
        if after_version is not None:
            args.append(after_version)
            sql += f" AND originator_version > ${len(args)}"
        if until is not None:
            args.append(utc_text(until))
            sql += f" AND recorded_at <= ${len(args)}"
        rows = await self._db.fetch(sql + " ORDER BY originator_version", *args)
        return [_recorded(row) for row in rows]

    async def read_log(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
            after,
            limit,
        )
        return [_recorded(row) for row in rows]

    async def last_position(self) -> int:
        position = await self._db.fetchval("SELECT max(position) FROM events")
        return int(position or 0)

    async def write_snapshot(self, snapshot: NewEvent) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO snapshots (originator_id, originator_version, topic, state) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (originator_id, originator_version) "
                "DO UPDATE SET topic = excluded.topic, state = excluded.state",
                str(snapshot.originator_id),
                snapshot.originator_version,
                snapshot.topic,
                snapshot.state,
            )

    async def latest_snapshot(self, originator_id: UUID) -> NewEvent | None:
        row = await self._db.fetchrow(
            "SELECT originator_version, topic, state FROM snapshots WHERE originator_id = $1 "
            "ORDER BY originator_version DESC LIMIT 1",
            str(originator_id),
        )
        if row is None:
            return None
        return NewEvent(
            originator_id=originator_id,
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=bytes(row["state"]),
        )
