"""The metrics table: rolled-up intervals in the same database as the events (not in
the event log), written additively so several server processes add up.

One row per (resolution, interval start, process, service, version). A process writes
only its own rows, so two processes never contend for a row; a process that flushes
twice into one interval adds to its row. Process-wide figures (CPU, memory) are rows
with an empty service id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.adapters.sql.port import Database, Row, Tx
from app.monitoring import histogram

TABLE = "metric_points"
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " resolution INTEGER NOT NULL, start_at BIGINT NOT NULL, process TEXT NOT NULL,"
    " service_id TEXT NOT NULL, version INTEGER NOT NULL, service TEXT NOT NULL,"
    " s1xx BIGINT NOT NULL, s2xx BIGINT NOT NULL, s3xx BIGINT NOT NULL,"
    " s4xx BIGINT NOT NULL, s5xx BIGINT NOT NULL,"
    " latency_sum DOUBLE PRECISION NOT NULL, buckets TEXT NOT NULL,"
    " inflight_peak INTEGER NOT NULL, load_seconds DOUBLE PRECISION,"
    " cpu_seconds DOUBLE PRECISION NOT NULL, memory_bytes BIGINT NOT NULL,"
    " PRIMARY KEY (resolution, start_at, process, service_id, version))",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_by_service ON {TABLE} (service_id, resolution, start_at)",
)
COLUMNS = (
    "resolution, start_at, process, service_id, version, service, s1xx, s2xx, s3xx, s4xx,"
    " s5xx, latency_sum, buckets, inflight_peak, load_seconds, cpu_seconds, memory_bytes"
)
NO_VERSION = 0  # versions are numbered from 1; 0 stores "no version chosen"


@dataclass(slots=True)
class Point:
    """One interval of one (process, service, version), or of a process (service_id '')."""

    start_at: int
    process: str
    service_id: str
    version: int | None
    service: str = ""
    statuses: list[int] = field(default_factory=lambda: [0] * 5)
    latency_sum: float = 0.0
    buckets: list[int] = field(default_factory=histogram.empty)
    inflight_peak: int = 0
    load_seconds: float | None = None
    cpu_seconds: float = 0.0
    memory_bytes: int = 0

    def merge(self, other: Point) -> None:
        """Add ``other`` (a later part of the same interval) into this one."""
        self.statuses = [a + b for a, b in zip(self.statuses, other.statuses, strict=True)]
        self.latency_sum += other.latency_sum
        histogram.add_into(self.buckets, other.buckets)
        self.inflight_peak = max(self.inflight_peak, other.inflight_peak)
        if other.load_seconds is not None:
            self.load_seconds = other.load_seconds
        self.cpu_seconds += other.cpu_seconds
        self.memory_bytes = max(self.memory_bytes, other.memory_bytes)
        self.service = other.service or self.service

    def values(self, resolution: int) -> tuple[object, ...]:
        return (
            resolution,
            self.start_at,
            self.process,
            self.service_id,
            NO_VERSION if self.version is None else self.version,
            self.service,
            *self.statuses,
            self.latency_sum,
            json.dumps(histogram.sparse(self.buckets), separators=(",", ":")),
            self.inflight_peak,
            self.load_seconds,
            self.cpu_seconds,
            self.memory_bytes,
        )

    @classmethod
    def from_row(cls, row: Row) -> Point:
        buckets = histogram.empty()
        histogram.add_into(buckets, {int(k): int(v) for k, v in json.loads(row["buckets"]).items()})
        version = int(row["version"])
        return cls(
            start_at=int(row["start_at"]),
            process=row["process"],
            service_id=row["service_id"],
            version=None if version == NO_VERSION else version,
            service=row["service"],
            statuses=[int(row[f"s{i}xx"]) for i in range(1, 6)],
            latency_sum=float(row["latency_sum"]),
            buckets=buckets,
            inflight_peak=int(row["inflight_peak"]),
            load_seconds=None if row["load_seconds"] is None else float(row["load_seconds"]),
            cpu_seconds=float(row["cpu_seconds"]),
            memory_bytes=int(row["memory_bytes"]),
        )


async def setup(db: Database) -> None:
    async with db.transaction() as tx:
        if db.dialect == "postgres":
            # Servers starting together must not race on CREATE TABLE.
            await tx.execute("SELECT pg_advisory_xact_lock(7420007)")
        for statement in DDL:
            await tx.execute(statement)


async def write(db: Database, tiers: Sequence[tuple[int, Sequence[Point]]]) -> None:
    """Add each tier's points (of one process) into their rows, all in one transaction:
    a failed write leaves nothing behind, so the caller can offer the same deltas again."""
    marks = ", ".join(f"${i + 1}" for i in range(17))
    updates = ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in COLUMNS.split(",")[5:])
    sql = (
        f"INSERT INTO {TABLE} ({COLUMNS}) VALUES ({marks}) ON CONFLICT"
        f" (resolution, start_at, process, service_id, version) DO UPDATE SET {updates}"
    )
    async with db.transaction() as tx:
        rows: list[tuple[object, ...]] = []
        for resolution, points in tiers:
            by_start: dict[int, list[Point]] = {}
            for point in points:
                by_start.setdefault(point.start_at, []).append(point)
            for start_at, group in by_start.items():
                merged = await _merged(tx, db, resolution, start_at, group)
                rows.extend(p.values(resolution) for p in merged)
        if rows:
            await tx.executemany(sql, rows)


async def _merged(
    tx: Tx, db: Database, resolution: int, start_at: int, group: list[Point]
) -> list[Point]:
    existing = {
        (p.service_id, p.version): p
        for p in map(
            Point.from_row,
            await tx.fetch(
                f"SELECT * FROM {TABLE} WHERE resolution = $1 AND start_at = $2"
                f" AND process = $3{db.for_update}",
                resolution,
                start_at,
                group[0].process,
            ),
        )
    }
    out = []
    for point in group:
        before = existing.get((point.service_id, point.version))
        if before is not None:
            before.merge(point)
            point = before
        out.append(point)
    return out


async def read(db: Database, resolution: int, service_id: str, start: int, end: int) -> list[Point]:
    """A service's rows and every process row with start in [start, end)."""
    rows = await db.fetch(
        f"SELECT * FROM {TABLE} WHERE resolution = $1 AND service_id IN ($2, '')"
        " AND start_at >= $3 AND start_at < $4 ORDER BY start_at",
        resolution,
        service_id,
        start,
        end,
    )
    return [Point.from_row(r) for r in rows]


async def prune(db: Database, resolution: int, older_than: int) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            f"DELETE FROM {TABLE} WHERE resolution = $1 AND start_at < $2", resolution, older_than
        )
