"""Read model: training tasks, their latest metrics and the reported history."""

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


class TrainingProjection(Projection):
    name = "training"
    tables = ("rm_training_metrics", "rm_training_tasks")
    rows_per_originator = True
    ddl = (
        """CREATE TABLE IF NOT EXISTS rm_training_tasks (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            framework TEXT NOT NULL,
            output_uri TEXT NOT NULL,
            status TEXT NOT NULL,
            message TEXT NOT NULL,
            latest_metrics TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS rm_training_created ON rm_training_tasks (created_at, id)",
        """CREATE TABLE IF NOT EXISTS rm_training_metrics (
            position BIGINT NOT NULL,
            task_id TEXT NOT NULL,
            step INTEGER,
            name TEXT NOT NULL,
            value DOUBLE PRECISION NOT NULL,
            reported_at TEXT NOT NULL,
            PRIMARY KEY (position, name)
        )""",
        "CREATE INDEX IF NOT EXISTS rm_training_metrics_task"
        " ON rm_training_metrics (task_id, position)",
    )

    def handlers(self) -> dict[str, Handler]:
        return {
            "TrainingTask.Created": self._created,
            "TrainingTask.MetricsReported": self._reported,
            "TrainingTask.Finished": self._finished,
        }

    async def _created(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "INSERT INTO rm_training_tasks (id, name, framework, output_uri, status, message,"
            " latest_metrics, created_at, created_by, updated_at)"
            " VALUES ($1, $2, $3, $4, 'RUNNING', '', '{}', $5, $6, $5)",
            str(e.originator_id),
            e.name,
            e.framework,
            e.output_uri,
            iso(info.recorded_at),
            info.actor,
        )

    async def _reported(self, tx: Writer, e: Any, info: EventInfo) -> None:
        task_id = str(e.originator_id)
        current = await tx.fetchval(
            "SELECT latest_metrics FROM rm_training_tasks WHERE id = $1", task_id
        )
        merged = {**loads(current or "{}"), **e.metrics}
        await tx.execute(
            "UPDATE rm_training_tasks SET latest_metrics = $2, updated_at = $3 WHERE id = $1",
            task_id,
            dumps(merged),
            iso(info.recorded_at),
        )
        await tx.executemany(
            "INSERT INTO rm_training_metrics (position, task_id, step, name, value, reported_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (info.position, task_id, e.step, name, value, iso(info.recorded_at))
                for name, value in e.metrics.items()
            ],
        )

    async def _finished(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "UPDATE rm_training_tasks SET status = $2, message = $3, updated_at = $4 WHERE id = $1",
            str(e.originator_id),
            e.status,
            e.message,
            iso(info.recorded_at),
        )


@dataclass(frozen=True, slots=True)
class TrainingRow:
    id: str
    name: str
    framework: str
    output_uri: str
    status: str
    message: str
    latest_metrics: dict[str, float]
    created_at: datetime
    created_by: str
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> TrainingRow:
        return cls(
            **{
                **row,
                "latest_metrics": loads(row["latest_metrics"]),
                "created_at": parse_iso(row["created_at"]),
                "updated_at": parse_iso(row["updated_at"]),
            }
        )


@dataclass(frozen=True, slots=True)
class MetricPoint:
    step: int | None
    name: str
    value: float
    reported_at: datetime


async def list_training_tasks(
    db: Reader, *, first: int, before: tuple[str, str] | None = None, status: str | None = None
) -> tuple[list[TrainingRow], bool]:
    """Newest first; ``before`` is a (created_at, id) cursor."""
    where: list[str] = []
    args: list[Any] = []
    if status:
        args.append(status)
        where.append(f"status = ${len(args)}")
    if before is not None:
        args.extend(before)
        a, b = len(args) - 1, len(args)
        where.append(f"(created_at < ${a} OR (created_at = ${a} AND id < ${b}))")
    args.append(first + 1)
    sql = "SELECT * FROM rm_training_tasks" + (" WHERE " + " AND ".join(where) if where else "")
    rows = await db.fetch(sql + f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}", *args)
    return [TrainingRow.from_row(r) for r in rows[:first]], len(rows) > first


async def get_training_task(db: Reader, task_id: str) -> TrainingRow | None:
    row = await db.fetchrow("SELECT * FROM rm_training_tasks WHERE id = $1", task_id)
    return None if row is None else TrainingRow.from_row(row)


async def metric_history(db: Reader, task_id: str, limit: int = 1000) -> list[MetricPoint]:
    rows = await db.fetch(
        "SELECT step, name, value, reported_at FROM rm_training_metrics WHERE task_id = $1"
        " ORDER BY position, name LIMIT $2",
        task_id,
        limit,
    )
    return [
        MetricPoint(r["step"], r["name"], float(r["value"]), parse_iso(r["reported_at"]))
        for r in rows
    ]
