"""Read model: batch jobs and their runs (status, progress, results)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.schedule import Schedule
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


class BatchProjection(Projection):
    name = "batch"
    tables = ("rm_batch_runs", "rm_batch_jobs")
    rows_per_originator = True
    ddl = (
        """CREATE TABLE IF NOT EXISTS rm_batch_jobs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            version_id TEXT NOT NULL,
            spec TEXT NOT NULL,
            schedule TEXT NOT NULL,
            steps TEXT NOT NULL,
            paused INTEGER NOT NULL,
            last_scheduled TEXT,
            next_due TEXT,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS rm_batch_jobs_version ON rm_batch_jobs (version_id)",
        "CREATE INDEX IF NOT EXISTS rm_batch_jobs_due ON rm_batch_jobs (next_due)",
        """CREATE TABLE IF NOT EXISTS rm_batch_runs (
            id TEXT PRIMARY KEY,
            job_id TEXT NOT NULL,
            scheduled_at TEXT NOT NULL,
            trigger TEXT NOT NULL,
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            worker TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            progress TEXT NOT NULL,
            result TEXT NOT NULL,
            reason TEXT NOT NULL,
            position BIGINT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS rm_batch_runs_job ON rm_batch_runs (job_id, scheduled_at)",
        "CREATE INDEX IF NOT EXISTS rm_batch_runs_status ON rm_batch_runs (status, scheduled_at)",
    )

    def handlers(self) -> dict[str, Handler]:
        return {
            "BatchJob.Created": self._job_created,
            "BatchJob.Updated": self._job_updated,
            "BatchJob.Paused": self._job_paused,
            "BatchJob.Resumed": self._job_resumed,
            "BatchJob.ScheduledUpTo": self._job_scheduled,
            "BatchJob.Deleted": self._job_deleted,
            "BatchRun.Created": self._run_created,
            "BatchRun.Started": self._run_started,
            "BatchRun.Progressed": self._run_progressed,
            "BatchRun.Completed": self._run_completed,
            "BatchRun.Failed": self._run_failed,
            "BatchRun.Requeued": self._run_requeued,
            "BatchRun.Cancelled": self._run_cancelled,
        }

    async def _job_created(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "INSERT INTO rm_batch_jobs (id, name, version_id, spec, schedule, steps, paused,"
            " status, created_at, created_by, updated_at, next_due)"
            " VALUES ($1, $2, $3, $4, $5, $6, 0, 'ACTIVE', $7, $8, $7, $9)",
            str(e.originator_id),
            e.name,
            str(e.version_id),
            dumps(e.spec),
            dumps(e.schedule),
            dumps(e.steps),
            iso(info.recorded_at),
            info.actor,
            next_due(e.schedule, None),
        )

    async def _job_updated(self, tx: Writer, e: Any, info: EventInfo) -> None:
        row = await tx.fetchrow(
            "SELECT last_scheduled FROM rm_batch_jobs WHERE id = $1", str(e.originator_id)
        )
        await tx.execute(
            "UPDATE rm_batch_jobs SET spec = $2, schedule = $3, steps = $4, version_id = $5,"
            " updated_at = $6, next_due = $7 WHERE id = $1",
            str(e.originator_id),
            dumps(e.spec),
            dumps(e.schedule),
            dumps(e.steps),
            str(e.version_id),
            iso(info.recorded_at),
            next_due(e.schedule, row["last_scheduled"] if row else None),
        )

    async def _job_paused(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _job_set(tx, e, info, "paused = 1, status = 'PAUSED'")

    async def _job_resumed(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _job_set(tx, e, info, "paused = 0, status = 'ACTIVE'")

    async def _job_scheduled(self, tx: Writer, e: Any, info: EventInfo) -> None:
        row = await tx.fetchrow(
            "SELECT schedule FROM rm_batch_jobs WHERE id = $1", str(e.originator_id)
        )
        if row is None:
            return
        await tx.execute(
            "UPDATE rm_batch_jobs SET last_scheduled = $2, next_due = $3 WHERE id = $1",
            str(e.originator_id),
            e.scheduled_at,
            next_due(loads(row["schedule"]), e.scheduled_at),
        )

    async def _job_deleted(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute("DELETE FROM rm_batch_jobs WHERE id = $1", str(e.originator_id))

    async def _run_created(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "INSERT INTO rm_batch_runs (id, job_id, scheduled_at, trigger, status, attempt,"
            " worker, heartbeat_at, progress, result, reason, position, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, 'PENDING', 0, '', '', '{}', '{}', '', $5, $6, $6)",
            str(e.originator_id),
            str(e.job_id),
            e.scheduled_at,
            e.trigger,
            info.position,
            iso(info.recorded_at),
        )

    async def _run_started(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _run_set(
            tx,
            e,
            info,
            "status = 'RUNNING', worker = $4, attempt = $5, heartbeat_at = $6",
            e.worker,
            e.attempt,
            e.at,
        )

    async def _run_progressed(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _run_set(tx, e, info, "progress = $4, heartbeat_at = $5", dumps(e.progress), e.at)

    async def _run_completed(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _run_set(tx, e, info, "status = 'COMPLETED', result = $4", dumps(e.result))

    async def _run_failed(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _run_set(tx, e, info, "status = 'FAILED', reason = $4", e.reason)

    async def _run_requeued(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _run_set(tx, e, info, "status = 'PENDING', worker = '', reason = $4", e.reason)

    async def _run_cancelled(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _run_set(tx, e, info, "status = 'CANCELLED'")


async def _job_set(tx: Writer, e: Any, info: EventInfo, assignments: str) -> None:
    await tx.execute(
        f"UPDATE rm_batch_jobs SET {assignments}, updated_at = $2 WHERE id = $1",
        str(e.originator_id),
        iso(info.recorded_at),
    )


async def _run_set(tx: Writer, e: Any, info: EventInfo, assignments: str, *args: Any) -> None:
    await tx.execute(
        f"UPDATE rm_batch_runs SET {assignments}, position = $2, updated_at = $3 WHERE id = $1",
        str(e.originator_id),
        info.position,
        iso(info.recorded_at),
        *args,
    )


@dataclass(frozen=True, slots=True)
class JobRow:
    id: str
    name: str
    version_id: str
    spec: dict[str, Any]
    schedule: dict[str, Any]
    steps: list[dict[str, Any]]
    paused: bool
    last_scheduled: str | None
    next_due: str | None
    status: str
    created_at: datetime
    created_by: str
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> JobRow:
        return cls(
            **{
                **row,
                "spec": loads(row["spec"]),
                "schedule": loads(row["schedule"]),
                "steps": loads(row["steps"]),
                "paused": bool(row["paused"]),
                "created_at": parse_iso(row["created_at"]),
                "updated_at": parse_iso(row["updated_at"]),
            }
        )


@dataclass(frozen=True, slots=True)
class RunRow:
    id: str
    job_id: str
    scheduled_at: str
    trigger: str
    status: str
    attempt: int
    worker: str
    heartbeat_at: str
    progress: dict[str, Any]
    result: dict[str, Any]
    reason: str
    position: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> RunRow:
        return cls(
            **{
                **row,
                "progress": loads(row["progress"]),
                "result": loads(row["result"]),
                "created_at": parse_iso(row["created_at"]),
                "updated_at": parse_iso(row["updated_at"]),
            }
        )


async def list_jobs(
    db: Reader,
    *,
    first: int,
    after: str | None = None,
    status: str | None = None,
    version_id: str | None = None,
) -> tuple[list[JobRow], bool]:
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("id", after), ("status", status), ("version_id", version_id)):
        if value is not None:
            args.append(value)
            where.append(f"{column} {'>' if column == 'id' else '='} ${len(args)}")
    args.append(first + 1)
    sql = "SELECT * FROM rm_batch_jobs" + (" WHERE " + " AND ".join(where) if where else "")
    rows = await db.fetch(sql + f" ORDER BY id LIMIT ${len(args)}", *args)
    return [JobRow.from_row(r) for r in rows[:first]], len(rows) > first


async def get_job(db: Reader, job_id: str) -> JobRow | None:
    row = await db.fetchrow("SELECT * FROM rm_batch_jobs WHERE id = $1", job_id)
    return None if row is None else JobRow.from_row(row)


async def runs_of(db: Reader, job_id: str, limit: int = 100) -> list[RunRow]:
    rows = await db.fetch(
        "SELECT * FROM rm_batch_runs WHERE job_id = $1 ORDER BY scheduled_at DESC LIMIT $2",
        job_id,
        limit,
    )
    return [RunRow.from_row(r) for r in rows]


async def runs_of_jobs(db: Reader, job_ids: list[str], limit: int = 100) -> dict[str, list[RunRow]]:
    """Each job's newest ``limit`` runs (runs_of of several jobs in one query)."""
    found: dict[str, list[RunRow]] = {j: [] for j in job_ids}
    if not job_ids:
        return found
    marks = ", ".join(f"${i + 2}" for i in range(len(job_ids)))
    rows = await db.fetch(
        "SELECT * FROM (SELECT r.*, ROW_NUMBER() OVER"
        " (PARTITION BY r.job_id ORDER BY r.scheduled_at DESC) AS place FROM rm_batch_runs r"
        f" WHERE r.job_id IN ({marks})) ranked WHERE place <= $1"
        " ORDER BY job_id, scheduled_at DESC",
        limit,
        *job_ids,
    )
    for row in rows:
        del row["place"]
        found[row["job_id"]].append(RunRow.from_row(row))
    return found


async def runs_with_status(db: Reader, status: str, limit: int = 100) -> list[RunRow]:
    rows = await db.fetch(
        "SELECT * FROM rm_batch_runs WHERE status = $1 ORDER BY scheduled_at LIMIT $2",
        status,
        limit,
    )
    return [RunRow.from_row(r) for r in rows]


async def due_jobs(db: Reader, now: datetime, limit: int = 500) -> list[JobRow]:
    """Active jobs whose next run time has come (the scheduler's work list)."""
    rows = await db.fetch(
        "SELECT * FROM rm_batch_jobs WHERE paused = 0 AND next_due IS NOT NULL"
        " AND next_due <= $1 ORDER BY next_due LIMIT $2",
        _instant(now),
        limit,
    )
    return [JobRow.from_row(r) for r in rows]


def next_due(schedule: dict[str, Any], last_scheduled: str | None) -> str | None:
    """The schedule's next run time (domain rule) as sortable text; None: no more runs."""
    last = parse_iso(last_scheduled) if last_scheduled is not None else None
    at = Schedule.from_dict(schedule).next_run(last)
    return None if at is None else _instant(at)


def _instant(moment: datetime) -> str:
    """A UTC time as fixed-width text, so that text order is time order in SQL."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
