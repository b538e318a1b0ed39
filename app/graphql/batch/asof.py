"""A batch job and its runs as they were at a past moment (``asOf``), rebuilt from the
event log, not from the read models."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from app.graphql.batch.types import BatchJob, BatchRun
from app.graphql.context import Info
from app.services.replay import Past, replay
from domain.batch import BatchJob as JobAggregate
from domain.batch import BatchRun as RunAggregate
from projections.base import parse_iso
from projections.batch import next_due, runs_of

# Run ids come from the read model (the log has no index by job); their states from the
# log. The newest this many runs are looked at.
RUNS_LOOKED_AT = 1000


async def job_as_of(info: Info, job_id: str, as_of: datetime) -> BatchJob | None:
    past = await replay(info.context.container.repository, UUID(job_id), JobAggregate, as_of)
    if past is None:
        return None
    job = past.state
    status = "DELETED" if job.deleted else "PAUSED" if job.paused else "ACTIVE"
    due = None if job.deleted else next_due(job.schedule, job.last_scheduled)
    return BatchJob(
        id=strawberry.ID(str(job.id)),
        name=job.name,
        version_id=strawberry.ID(str(job.version_id)),
        spec=cast(JSON, job.spec),
        schedule=cast(JSON, job.schedule),
        steps=cast(JSON, job.steps),
        paused=job.paused,
        status=status,
        next_run_at=parse_iso(due) if due else None,
        created_at=past.created.recorded_at,
        created_by=past.created.meta.actor,
        as_of=as_of,
    )


async def runs_as_of(info: Info, job_id: str, as_of: datetime, last: int) -> list[BatchRun]:
    """The job's newest ``last`` runs that existed at ``as_of``, each as it was then."""
    container = info.context.container
    rows = await runs_of(container.db, job_id, limit=RUNS_LOOKED_AT)
    existing = [r.id for r in rows if r.created_at <= as_of][:last]
    found = await asyncio.gather(
        *(replay(container.repository, UUID(i), RunAggregate, as_of) for i in existing)
    )
    return [_run(p, as_of) for p in found if p is not None]


def _run(past: Past[RunAggregate], as_of: datetime) -> BatchRun:
    run = past.state
    return BatchRun(
        id=strawberry.ID(str(run.id)),
        job_id=strawberry.ID(str(run.job_id)),
        scheduled_at=run.scheduled_at,
        trigger=run.trigger,
        status=run.status,
        attempt=run.attempt,
        progress=cast(JSON, run.progress),
        result=cast(JSON, run.result),
        reason=run.reason,
        updated_at=past.updated.recorded_at,
        as_of=as_of,
    )
