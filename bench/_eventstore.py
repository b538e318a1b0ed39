"""The PostgreSQL event store's appends against raw asyncpg INSERTs of the same rows.

The raw side writes a twin table with the same columns and unique key, without the
store's guarantees (table lock so commit order = position order, time never going back,
typed conflicts): the gap is what those guarantees and the store's code cost.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from app.adapters.event_store.port import EventMeta, NewEvent
from app.adapters.event_store.postgres import PostgresEventStore
from app.adapters.sql.postgres import PostgresDatabase

RAW_DDL = """
CREATE TABLE raw_events (
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
)"""
RAW_INSERT = (
    "INSERT INTO raw_events (originator_id, originator_version, topic, state, recorded_at,"
    " actor, request_id, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING position"
)
TOPIC = "domain.version:ModelVersion.Imported"
META = EventMeta(actor="bench", request_id="bench-request-0001")
# About the size of a serialized ModelVersion.Imported event.
STATE = json.dumps(
    {
        "framework": "onnx",
        "metrics": {"acc": 0.9},
        "model_format": "ONNX",
        "model_id": uuid.uuid4().hex,
        "number": 1,
        "runtime": "onnxruntime",
        "source": {"kind": "metadata", "uri": "s3://bench/model/1"},
        "status": "READY",
        "timestamp": datetime.now(UTC).isoformat(),
    }
).encode()


@dataclass
class Row:
    case: str
    store_per_s: float
    raw_per_s: float
    unit: str

    @property
    def ratio(self) -> float:
        return self.store_per_s / self.raw_per_s


def _events(count: int) -> list[NewEvent]:
    return [NewEvent(uuid.uuid4(), 1, TOPIC, STATE) for _ in range(count)]


def _raw_row(event: NewEvent) -> tuple[object, ...]:
    return (
        event.originator_id,
        event.originator_version,
        event.topic,
        event.state,
        datetime.now(UTC),
        META.actor,
        META.request_id,
        META.reason,
    )


async def _timed(work: Callable[[], Awaitable[None]]) -> float:
    began = time.perf_counter()
    await work()
    return time.perf_counter() - began


async def run(url: str, *, appends: int, batch: int, concurrency: int = 8) -> list[Row]:
    db = PostgresDatabase(url, max_size=concurrency + 2)
    await db.open()
    pool = await asyncpg.create_pool(url, min_size=concurrency, max_size=concurrency + 2)
    try:
        store = PostgresEventStore(db)
        await store.setup()
        await pool.execute(RAW_DDL)
        rows: list[Row] = []

        async def store_single() -> None:
            for event in _events(appends):
                await store.append([event], META)

        async def raw_single() -> None:
            for event in _events(appends):
                await pool.fetchval(RAW_INSERT, *_raw_row(event))

        async def store_batches() -> None:
            for _ in range(max(1, appends // batch)):
                await store.append(_events(batch), META)

        async def raw_batches() -> None:
            for _ in range(max(1, appends // batch)):
                async with pool.acquire() as conn, conn.transaction():
                    await conn.executemany(RAW_INSERT, [_raw_row(e) for e in _events(batch)])

        def spread(one: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
            async def work() -> None:
                async def worker() -> None:
                    for _ in range(appends // concurrency):
                        await one()

                await asyncio.gather(*(worker() for _ in range(concurrency)))

            return work

        # Warm both sides (prepared statements, pools, caches) off the clock.
        await store.append(_events(1), META)
        await pool.fetchval(RAW_INSERT, *_raw_row(_events(1)[0]))

        s = await _timed(store_single)
        r = await _timed(raw_single)
        rows.append(Row("single-event appends, 1 writer", appends / s, appends / r, "appends/s"))

        per = appends // concurrency * concurrency
        s = await _timed(spread(lambda: store.append(_events(1), META)))
        r = await _timed(spread(lambda: pool.fetchval(RAW_INSERT, *_raw_row(_events(1)[0]))))
        rows.append(
            Row(f"single-event appends, {concurrency} writers", per / s, per / r, "appends/s")
        )

        count = max(1, appends // batch) * batch
        s = await _timed(store_batches)
        r = await _timed(raw_batches)
        rows.append(Row(f"batches of {batch}, 1 writer", count / s, count / r, "events/s"))
        return rows
    finally:
        await pool.close()
        await db.close()
