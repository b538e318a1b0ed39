"""The GraphQL types of batch jobs and runs: jobs, runs, inputs, payloads, results."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from app.graphql.context import Info
from app.graphql.errors import AlreadyDeleted, InvalidState, NotFound, ValidationError
from app.graphql.loaders import PageKey
from app.graphql.monitoring.queries import run_metrics
from app.graphql.monitoring.types import BatchRunMetrics
from app.graphql.pagination import check_first
from projections.base import parse_iso
from projections.batch import JobRow, RunRow


@strawberry.enum
class DataFormat(Enum):
    CSV = "CSV"
    JSONL = "JSONL"
    PARQUET = "PARQUET"


@strawberry.enum
class ScheduleKind(Enum):
    ONCE = "ONCE"
    PERIODIC = "PERIODIC"


@strawberry.type
class BatchRun:
    id: strawberry.ID
    job_id: strawberry.ID
    scheduled_at: str
    trigger: str
    status: str = strawberry.field(description="PENDING, RUNNING, COMPLETED, FAILED, CANCELLED")
    attempt: int
    progress: JSON
    result: JSON
    reason: str
    updated_at: datetime
    as_of: datetime | None = strawberry.field(
        default=None, description="Set when this is the state at a past moment (asOf queries)."
    )

    @strawberry.field(
        description="Rows, duration and rows/s of its last finished attempt (null before,"
        " and in asOf views)."
    )
    async def metrics(self, info: Info) -> BatchRunMetrics | None:
        if self.as_of is not None:
            return None
        return await run_metrics(info, str(self.id))

    @classmethod
    def from_row(cls, row: RunRow) -> BatchRun:
        return cls(
            id=strawberry.ID(row.id),
            job_id=strawberry.ID(row.job_id),
            scheduled_at=row.scheduled_at,
            trigger=row.trigger,
            status=row.status,
            attempt=row.attempt,
            progress=cast(JSON, row.progress),
            result=cast(JSON, row.result),
            reason=row.reason,
            updated_at=row.updated_at,
        )


@strawberry.type
class BatchJob:
    id: strawberry.ID
    name: str
    version_id: strawberry.ID
    spec: JSON = strawberry.field(description="Input, output, formats, id column, error policy.")
    schedule: JSON
    steps: JSON
    paused: bool
    status: str
    next_run_at: datetime | None = strawberry.field(
        description="When the scheduler creates the next run (none: a ONCE job that ran)."
    )
    created_at: datetime
    created_by: str
    as_of: datetime | None = strawberry.field(
        default=None, description="Set when this is the state at a past moment (asOf queries)."
    )

    @strawberry.field(description="Newest first (in asOf views: the runs as they were then).")
    async def runs(self, info: Info, last: int = 20) -> list[BatchRun]:
        check_first(last)
        if self.as_of is not None:
            from app.graphql.batch.asof import runs_as_of

            return await runs_as_of(info, str(self.id), self.as_of, last)
        rows = await info.context.loaders.runs_of_jobs.load(PageKey(str(self.id), last))
        return [BatchRun.from_row(r) for r in rows]

    @classmethod
    def from_row(cls, row: JobRow) -> BatchJob:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            version_id=strawberry.ID(row.version_id),
            spec=cast(JSON, row.spec),
            schedule=cast(JSON, row.schedule),
            steps=cast(JSON, row.steps),
            paused=row.paused,
            status=row.status,
            next_run_at=parse_iso(row.next_due) if row.next_due else None,
            created_at=row.created_at,
            created_by=row.created_by,
        )


@strawberry.input
class ScheduleInput:
    kind: ScheduleKind = ScheduleKind.ONCE
    expression: str | None = strawberry.field(
        default=None, description='A 5-field cron expression or a period such as "every 6h".'
    )
    start: datetime | None = strawberry.field(default=None, description="Now by default.")
    time_zone: str = "UTC"
    misfire_policy: str = strawberry.field(default="RUN_ONCE", description="RUN_ONCE or SKIP")
    concurrency_policy: str = strawberry.field(default="FORBID", description="FORBID or ALLOW")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "expression": self.expression,
            "start": self.start,
            "time_zone": self.time_zone,
            "misfire": self.misfire_policy,
            "concurrency": self.concurrency_policy,
        }


@strawberry.input
class BatchJobInput:
    name: str
    version_id: strawberry.ID
    input_uri: str
    input_format: DataFormat
    output_uri: str
    output_format: DataFormat
    id_column: str | None = None
    schedule: ScheduleInput | None = None
    steps: JSON | None = strawberry.field(
        default=None, description='Ordered steps, e.g. [{"kind": "select", "columns": [...]}].'
    )
    on_error: str = strawberry.field(default="fail", description="fail or skip")
    max_skipped: int = 0
    max_attempts: int = 3

    def spec(self) -> dict[str, Any]:
        return {
            "input_uri": self.input_uri,
            "input_format": self.input_format.value,
            "output_uri": self.output_uri,
            "output_format": self.output_format.value,
            "id_column": self.id_column,
            "on_error": self.on_error,
            "max_skipped": self.max_skipped,
            "max_attempts": self.max_attempts,
        }


@strawberry.type
class BatchJobPayload:
    job: BatchJob


@strawberry.type
class BatchRunPayload:
    run: BatchRun


JobResult = Annotated[
    BatchJobPayload | NotFound | AlreadyDeleted | InvalidState | ValidationError,
    strawberry.union("BatchJobResult"),
]
RunResult = Annotated[
    BatchRunPayload | NotFound | AlreadyDeleted | InvalidState | ValidationError,
    strawberry.union("BatchRunResult"),
]
