"""Batch prediction jobs: create, change, pause, resume, delete, run now; cancel a run."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.graphql.batch.types import (
    BatchJob,
    BatchJobInput,
    BatchJobPayload,
    BatchRun,
    BatchRunPayload,
    JobResult,
    RunResult,
    ScheduleInput,
)
from app.graphql.context import Info
from app.graphql.errors import NotFound
from app.graphql.permissions import IsEditor
from domain.batch import BatchJob as JobAggregate
from domain.errors import ValidationError as DomainValidationError
from projections.batch import get_job, runs_of


def _steps(raw: object) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        raise DomainValidationError("steps", "a list of step objects")
    return raw


async def _job(info: Info, job: JobAggregate) -> JobResult:
    row = await get_job(info.context.container.db, str(job.id))
    if row is None:  # deleted
        return NotFound(message=f"batch job {job.id} was deleted", kind="batch job")
    return BatchJobPayload(job=BatchJob.from_row(row))


@strawberry.type
class BatchMutations:
    @strawberry.mutation(permission_classes=[IsEditor])
    async def create_batch_job(self, info: Info, input: BatchJobInput) -> JobResult:
        batch = info.context.container.batch
        schedule = (input.schedule or ScheduleInput()).to_dict()
        job = await batch.create_job(
            input.name,
            input.version_id,
            input.spec(),
            schedule,
            _steps(input.steps),
            meta=info.context.meta(),
        )
        return await _job(info, job)

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
        job = await batch.update_job(
            job_id,
            spec={"output_uri": output_uri} if output_uri else None,
            schedule=schedule.to_dict() if schedule else None,
            steps=_steps(steps) if steps is not None else None,
            version_id=str(version_id) if version_id else None,
            meta=info.context.meta(),
        )
        return await _job(info, job)

    @strawberry.mutation(permission_classes=[IsEditor])
    async def pause_batch_job(self, info: Info, job_id: strawberry.ID) -> JobResult:
        batch = info.context.container.batch
        job = await batch.change_job(job_id, JobAggregate.pause, meta=info.context.meta())
        return await _job(info, job)

    @strawberry.mutation(permission_classes=[IsEditor])
    async def resume_batch_job(self, info: Info, job_id: strawberry.ID) -> JobResult:
        batch = info.context.container.batch
        job = await batch.change_job(job_id, JobAggregate.resume, meta=info.context.meta())
        return await _job(info, job)

    @strawberry.mutation(permission_classes=[IsEditor])
    async def delete_batch_job(self, info: Info, job_id: strawberry.ID) -> JobResult:
        batch = info.context.container.batch
        return await _job(info, await batch.delete_job(job_id, meta=info.context.meta()))

    @strawberry.mutation(permission_classes=[IsEditor], description="Run now.")
    async def trigger_batch_job(self, info: Info, job_id: strawberry.ID) -> RunResult:
        run = await info.context.container.batch.trigger(job_id, meta=info.context.meta())
        return await _run_payload(info, str(run.job_id), str(run.id))

    @strawberry.mutation(permission_classes=[IsEditor])
    async def cancel_batch_run(self, info: Info, run_id: strawberry.ID) -> RunResult:
        run = await info.context.container.batch.cancel_run(run_id, meta=info.context.meta())
        return await _run_payload(info, str(run.job_id), str(run.id))


async def _run_payload(info: Info, job_id: str, run_id: str) -> BatchRunPayload:
    rows = await runs_of(info.context.container.db, job_id, limit=1000)
    row = next(r for r in rows if r.id == run_id)
    return BatchRunPayload(run=BatchRun.from_row(row))
