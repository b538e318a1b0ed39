"""Batch prediction jobs and runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from app.graphql.asof import check_as_of
from app.graphql.context import Info
from app.graphql.errors import AlreadyDeleted, InvalidState, NotFound, ValidationError, to_error
from app.graphql.monitoring.queries import run_metrics
from app.graphql.monitoring.types import BatchRunMetrics
from app.graphql.pagination import (
    Connection,
    check_first,
    connection,
    decode_cursor,
    encode_cursor,
    query_id,
)
from app.graphql.permissions import IsEditor, IsViewer
from domain.batch import BatchJob as JobAggregate
from domain.errors import DomainError
from domain.errors import ValidationError as DomainValidationError
from projections.base import parse_iso
from projections.batch import JobRow, RunRow, get_job, list_jobs, runs_of


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
            from app.graphql.batch.past import runs_as_of

            return await runs_as_of(info, str(self.id), self.as_of, last)
        rows = await runs_of(info.context.container.db, str(self.id), limit=last)
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


def _steps(raw: object) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        raise DomainValidationError("steps", "a list of step objects")
    return raw


async def _job(info: Info, run: Callable[[], Awaitable[JobAggregate]]) -> JobResult:
    try:
        job = await run()
    except DomainError as exc:
        return to_error(exc)  # type: ignore[return-value]
    row = await get_job(info.context.container.db, str(job.id))
    if row is None:  # deleted
        return NotFound(message=f"batch job {job.id} was deleted", kind="batch job")
    return BatchJobPayload(job=BatchJob.from_row(row))


@strawberry.type
class BatchQueries:
    @strawberry.field(permission_classes=[IsViewer])
    async def batch_jobs(
        self,
        info: Info,
        status: str | None = None,
        version_id: strawberry.ID | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[BatchJob]:
        check_first(first)
        cursor = decode_cursor(after)
        if cursor is not None and not isinstance(cursor, str):
            raise GraphQLError("invalid cursor")
        rows, has_next = await list_jobs(
            info.context.container.db,
            first=first,
            after=cursor,
            status=status,
            version_id=str(version_id) if version_id else None,
        )
        return connection([(encode_cursor(r.id), BatchJob.from_row(r)) for r in rows], has_next)

    @strawberry.field(
        permission_classes=[IsViewer],
        description="One job. With asOf, its state at that moment, rebuilt from the event log"
        " (null if it did not exist yet; status DELETED if it had been deleted).",
    )
    async def batch_job(
        self, info: Info, id: strawberry.ID, as_of: datetime | None = None
    ) -> BatchJob | None:
        if as_of is not None:
            from app.graphql.batch.past import job_as_of

            return await job_as_of(info, query_id(id), check_as_of(as_of))
        row = await get_job(info.context.container.db, query_id(id))
        return None if row is None else BatchJob.from_row(row)


@strawberry.type
class BatchMutations:
    @strawberry.mutation(permission_classes=[IsEditor])
    async def create_batch_job(self, info: Info, input: BatchJobInput) -> JobResult:
        batch = info.context.container.batch
        schedule = (input.schedule or ScheduleInput()).to_dict()

        async def run() -> JobAggregate:
            return await batch.create_job(
                input.name,
                input.version_id,
                input.spec(),
                schedule,
                _steps(input.steps),
                meta=info.context.meta(),
            )

        return await _job(info, run)

    @strawberry.mutation(
        permission_classes=[IsEditor], description="Change later runs; created runs keep theirs."
    )
    async def update_batch_job(
        self,
        info: Info,
        job_id: strawberry.ID,
        steps: JSON | None = None,
        schedule: ScheduleInput | None = None,
        version_id: strawberry.ID | None = None,
        output_uri: str | None = None,
    ) -> JobResult:
        batch = info.context.container.batch

        async def run() -> JobAggregate:
            return await batch.update_job(
                job_id,
                spec={"output_uri": output_uri} if output_uri else None,
                schedule=schedule.to_dict() if schedule else None,
                steps=_steps(steps) if steps is not None else None,
                version_id=str(version_id) if version_id else None,
                meta=info.context.meta(),
            )

        return await _job(info, run)

    @strawberry.mutation(permission_classes=[IsEditor])
    async def pause_batch_job(self, info: Info, job_id: strawberry.ID) -> JobResult:
        batch = info.context.container.batch
        return await _job(
            info, lambda: batch.change_job(job_id, JobAggregate.pause, meta=info.context.meta())
        )

    @strawberry.mutation(permission_classes=[IsEditor])
    async def resume_batch_job(self, info: Info, job_id: strawberry.ID) -> JobResult:
        batch = info.context.container.batch
        return await _job(
            info, lambda: batch.change_job(job_id, JobAggregate.resume, meta=info.context.meta())
        )

    @strawberry.mutation(permission_classes=[IsEditor])
    async def delete_batch_job(self, info: Info, job_id: strawberry.ID) -> JobResult:
        batch = info.context.container.batch
        return await _job(info, lambda: batch.delete_job(job_id, meta=info.context.meta()))

    @strawberry.mutation(permission_classes=[IsEditor], description="Run now.")
    async def trigger_batch_job(self, info: Info, job_id: strawberry.ID) -> RunResult:
        try:
            run = await info.context.container.batch.trigger(job_id, meta=info.context.meta())
        except DomainError as exc:
            return to_error(exc)  # type: ignore[return-value]
        return await _run_payload(info, str(run.job_id), str(run.id))

    @strawberry.mutation(permission_classes=[IsEditor])
    async def cancel_batch_run(self, info: Info, run_id: strawberry.ID) -> RunResult:
        try:
            run = await info.context.container.batch.cancel_run(run_id, meta=info.context.meta())
        except DomainError as exc:
            return to_error(exc)  # type: ignore[return-value]
        return await _run_payload(info, str(run.job_id), str(run.id))


async def _run_payload(info: Info, job_id: str, run_id: str) -> BatchRunPayload:
    rows = await runs_of(info.context.container.db, job_id, limit=1000)
    row = next(r for r in rows if r.id == run_id)
    return BatchRunPayload(run=BatchRun.from_row(row))
