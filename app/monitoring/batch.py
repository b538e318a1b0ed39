"""Batch runs report rows, duration and rows/s into a metrics table of their own (one row
per run attempt, written when it finishes) and to the Prometheus counters."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from app.adapters.sql.port import Database, Row
from app.monitoring.recorder import Recorder
from domain.batch import BatchRun

log = logging.getLogger("modelrepo.monitoring")

TABLE = "metric_batch_runs"
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " run_id TEXT NOT NULL, attempt INTEGER NOT NULL, job_id TEXT NOT NULL,"
    " version_id TEXT NOT NULL, status TEXT NOT NULL, rows BIGINT,"
    " seconds DOUBLE PRECISION NOT NULL, finished_at BIGINT NOT NULL, process TEXT NOT NULL,"
    " PRIMARY KEY (run_id, attempt))",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_by_job ON {TABLE} (job_id, finished_at)",
)


@dataclass(frozen=True, slots=True)
class RunMetrics:
    run_id: str
    attempt: int
    job_id: str
    version_id: str
    status: str
    rows: int | None
    seconds: float
    finished_at: datetime

    @property
    def rows_per_second(self) -> float | None:
        if self.rows is None or self.seconds <= 0:
            return None
        return self.rows / self.seconds

    @classmethod
    def from_row(cls, row: Row) -> RunMetrics:
        return cls(
            run_id=row["run_id"],
            attempt=int(row["attempt"]),
            job_id=row["job_id"],
            version_id=row["version_id"],
            status=row["status"],
            rows=None if row["rows"] is None else int(row["rows"]),
            seconds=float(row["seconds"]),
            finished_at=datetime.fromtimestamp(int(row["finished_at"]), UTC),
        )


class BatchMetrics:
    def __init__(self, db: Database, recorder: Recorder, process: str) -> None:
        self.db = db
        self.recorder = recorder
        self.process = process

    async def setup(self) -> None:
        async with self.db.transaction() as tx:
            if self.db.dialect == "postgres":
                await tx.execute("SELECT pg_advisory_xact_lock(7420008)")
            for statement in DDL:
                await tx.execute(statement)

    async def run_finished(
        self, run: BatchRun, status: str, rows: int | None, seconds: float
    ) -> None:
        """What the worker calls; a failure is logged (metrics never fail a run)."""
        try:
            await self.finished(
                str(run.id),
                run.attempt,
                str(run.job_id),
                str(run.config["version_id"]),
                status,
                rows,
                seconds,
            )
        except Exception:
            log.exception("recording the metrics of run %s failed", run.id)

    async def finished(
        self,
        run_id: str,
        attempt: int,
        job_id: str,
        version_id: str,
        status: str,
        rows: int | None,
        seconds: float,
    ) -> None:
        """Record one finished attempt (a repeated report replaces it)."""
        self.recorder.batch_run(status, rows or 0, seconds)
        async with self.db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO {TABLE} (run_id, attempt, job_id, version_id, status, rows,"
                " seconds, finished_at, process) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                " ON CONFLICT (run_id, attempt) DO UPDATE SET status = excluded.status,"
                " rows = excluded.rows, seconds = excluded.seconds,"
                " finished_at = excluded.finished_at, process = excluded.process",
                run_id,
                attempt,
                job_id,
                version_id,
                status,
                rows,
                seconds,
                int(time.time()),
                self.process,
            )


async def latest_for_runs(db: Database, run_ids: list[str]) -> dict[str, RunMetrics]:
    """The last recorded attempt of each run."""
    if not run_ids:
        return {}
    marks = ", ".join(f"${i + 1}" for i in range(len(run_ids)))
    rows = await db.fetch(
        f"SELECT * FROM {TABLE} WHERE run_id IN ({marks}) ORDER BY attempt", *run_ids
    )
    return {r.run_id: r for r in map(RunMetrics.from_row, rows)}


async def for_job(db: Database, job_id: str, start: int, end: int) -> list[RunMetrics]:
    """Attempts of a job's runs that finished in [start, end), oldest first."""
    rows = await db.fetch(
        f"SELECT * FROM {TABLE} WHERE job_id = $1 AND finished_at >= $2 AND finished_at < $3"
        " ORDER BY finished_at, run_id, attempt",
        job_id,
        start,
        end,
    )
    return [RunMetrics.from_row(r) for r in rows]
