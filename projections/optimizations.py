"""Read model: optimization jobs (status, progress, log, report) and the links between
source versions and the optimized versions made from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.base import (
    EventInfo,
    Handler,
    Projection,
    Reader,
    Row,
    Writer,
    dumps,
    iso,
    loads,
    parse_iso,
)


class OptimizationsProjection(Projection):
    name = "optimizations"
    tables = ("rm_optimization_jobs",)
    rows_per_originator = True
    ddl = (
        """CREATE TABLE IF NOT EXISTS rm_optimization_jobs (
            id TEXT PRIMARY KEY,
            version_id TEXT NOT NULL,
            model_id TEXT NOT NULL,
            source_format TEXT NOT NULL,
            result_format TEXT NOT NULL,
            methods TEXT NOT NULL,
            target_model TEXT NOT NULL,
            options TEXT NOT NULL,
            status TEXT NOT NULL,
            worker TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            progress DOUBLE PRECISION NOT NULL,
            log TEXT NOT NULL,
            report TEXT NOT NULL,
            reason TEXT NOT NULL,
            result_version_id TEXT,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS rm_optimization_jobs_version"
        " ON rm_optimization_jobs (version_id, created_at)",
        "CREATE INDEX IF NOT EXISTS rm_optimization_jobs_status"
        " ON rm_optimization_jobs (status, created_at)",
        "CREATE INDEX IF NOT EXISTS rm_optimization_jobs_result"
        " ON rm_optimization_jobs (result_version_id)",
    )

    def handlers(self) -> dict[str, Handler]:
        return {
            "OptimizationJob.Requested": self._requested,
            "OptimizationJob.Started": self._started,
            "OptimizationJob.Progressed": self._progressed,
            "OptimizationJob.Succeeded": self._succeeded,
            "OptimizationJob.Failed": self._failed,
        }

    async def _requested(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "INSERT INTO rm_optimization_jobs (id, version_id, model_id, source_format,"
            " result_format, methods, target_model, options, status, worker, heartbeat_at,"
            " progress, log, report, reason, created_at, created_by, updated_at) VALUES ($1, $2,"
            " $3, $4, $5, $6, $7, $8, 'PENDING', '', '', 0, '[]', '{}', '', $9, $10, $9)",
            str(e.originator_id),
            str(e.version_id),
            str(e.model_id),
            e.source_format,
            e.result_format,
            dumps(e.methods),
            e.target_model,
            dumps(e.options),
            iso(info.recorded_at),
            info.actor,
        )

    async def _started(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "UPDATE rm_optimization_jobs SET status = 'RUNNING', worker = $2, heartbeat_at = $3,"
            " updated_at = $4 WHERE id = $1",
            str(e.originator_id),
            e.worker,
            e.at,
            iso(info.recorded_at),
        )

    async def _progressed(self, tx: Writer, e: Any, info: EventInfo) -> None:
        job_id = str(e.originator_id)
        text = await tx.fetchval("SELECT log FROM rm_optimization_jobs WHERE id = $1", job_id)
        log = [*loads(text or "[]"), {"at": e.at, "message": e.message}]
        await tx.execute(
            "UPDATE rm_optimization_jobs SET log = $2, progress = $3, heartbeat_at = $4,"
            " updated_at = $5 WHERE id = $1",
            job_id,
            dumps(log),
            float(e.progress),
            e.at,
            iso(info.recorded_at),
        )

    async def _succeeded(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "UPDATE rm_optimization_jobs SET status = 'SUCCEEDED', progress = 1,"
            " result_version_id = $2, report = $3, updated_at = $4 WHERE id = $1",
            str(e.originator_id),
            str(e.result_version_id),
            dumps(e.report),
            iso(info.recorded_at),
        )

    async def _failed(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "UPDATE rm_optimization_jobs SET status = 'FAILED', reason = $2, report = $3,"
            " updated_at = $4 WHERE id = $1",
            str(e.originator_id),
            e.reason,
            dumps(e.report),
            iso(info.recorded_at),
        )


@dataclass(frozen=True, slots=True)
class JobRow:
    id: str
    version_id: str
    model_id: str
    source_format: str
    result_format: str
    methods: list[str]
    target_model: str
    options: dict[str, Any]
    status: str
    worker: str
    heartbeat_at: str
    progress: float
    log: list[dict[str, str]]
    report: dict[str, Any]
    reason: str
    result_version_id: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> JobRow:
        return cls(
            **{
                **row,
                "methods": loads(row["methods"]),
                "options": loads(row["options"]),
                "log": loads(row["log"]),
                "report": loads(row["report"]),
                "progress": float(row["progress"]),
                "created_at": parse_iso(row["created_at"]),
                "updated_at": parse_iso(row["updated_at"]),
            }
        )


_SELECT = "SELECT * FROM rm_optimization_jobs"


async def get_job(db: Reader, job_id: str) -> JobRow | None:
    row = await db.fetchrow(f"{_SELECT} WHERE id = $1", job_id)
    return None if row is None else JobRow.from_row(row)


async def list_jobs(
    db: Reader,
    *,
    first: int,
    after: tuple[str, str] | None = None,
    status: str | None = None,
    version_id: str | None = None,
) -> tuple[list[JobRow], bool]:
    """Newest first, paged by (created_at, id)."""
    where, args = [], []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if status:
        where.append(f"status = {arg(status)}")
    if version_id:
        where.append(f"version_id = {arg(version_id)}")
    if after is not None:
        at, ident = after
        where.append(f"(created_at < {arg(at)} OR (created_at = {arg(at)} AND id < {arg(ident)}))")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = await db.fetch(
        f"{_SELECT}{clause} ORDER BY created_at DESC, id DESC LIMIT {arg(first + 1)}", *args
    )
    return [JobRow.from_row(r) for r in rows[:first]], len(rows) > first


async def jobs_with_status(db: Reader, status: str, limit: int) -> list[JobRow]:
    rows = await db.fetch(
        f"{_SELECT} WHERE status = $1 ORDER BY created_at, id LIMIT $2", status, limit
    )
    return [JobRow.from_row(r) for r in rows]


async def jobs_of_results(db: Reader, version_ids: list[str]) -> dict[str, JobRow]:
    """The job that made each of these optimized versions (those made by one)."""
    if not version_ids:
        return {}
    marks = ", ".join(f"${i + 1}" for i in range(len(version_ids)))
    rows = await db.fetch(f"{_SELECT} WHERE result_version_id IN ({marks})", *version_ids)
    return {r["result_version_id"]: JobRow.from_row(r) for r in rows}


async def optimized_versions_of(db: Reader, version_ids: list[str]) -> dict[str, list[str]]:
    """The live versions optimized from each of these, oldest first."""
    found: dict[str, list[str]] = {v: [] for v in version_ids}
    if not version_ids:
        return found
    marks = ", ".join(f"${i + 1}" for i in range(len(version_ids)))
    rows = await db.fetch(
        "SELECT j.version_id, j.result_version_id FROM rm_optimization_jobs j JOIN rm_versions v"
        f" ON v.id = j.result_version_id WHERE j.version_id IN ({marks})"
        " AND j.status = 'SUCCEEDED' ORDER BY j.created_at, j.id",
        *version_ids,
    )
    for r in rows:
        found[r["version_id"]].append(r["result_version_id"])
    return found
