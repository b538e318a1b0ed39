"""`batchJobUpdates(jobId, after)`: status and progress of a job's runs, from the event
log. Every update carries the log position as its cursor, so a client that reconnects with
its last cursor gets exactly what it has not seen: nothing missed, nothing twice."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any, cast
from uuid import UUID

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from app.graphql.context import Info
from app.graphql.pagination import encode_cursor, int_cursor, query_id
from app.graphql.permissions import IsViewer
from projections.audit import split_topic
from projections.batch import get_job, runs_of


@strawberry.type
class BatchJobUpdate:
    cursor: str
    job_id: strawberry.ID
    run_id: strawberry.ID | None
    event: str = strawberry.field(description="e.g. Created, Started, Progressed, Completed")
    status: str | None
    data: JSON


_STATUS = {
    "Created": "PENDING",
    "Started": "RUNNING",
    "Requeued": "PENDING",
    "Completed": "COMPLETED",
    "Failed": "FAILED",
    "Cancelled": "CANCELLED",
}


@strawberry.type
class BatchSubscriptions:
    @strawberry.subscription(permission_classes=[IsViewer])
    async def batch_job_updates(
        self, info: Info, job_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[BatchJobUpdate, None]:
        jid = UUID(query_id(job_id, "jobId"))
        container = info.context.container
        if await get_job(container.db, str(jid)) is None and after is None:
            raise GraphQLError(f"batch job {jid} not found")
        position = int_cursor(after) or 0
        if after is None:
            # Nothing of this job comes before its first event: start there, not at the
            # beginning of the log.
            history = await container.store.read_aggregate(jid)
            position = history[0].position - 1 if history else 0
        watched = {jid} | {UUID(r.id) for r in await runs_of(container.db, str(jid), 100_000)}
        # One reader of the log per process feeds every subscription (woken by appends:
        # LISTEN/NOTIFY across PostgreSQL servers, an in-process broadcast on SQLite).
        async with contextlib.aclosing(container.feed.follow(position)) as feed:
            async for recorded in feed:
                aggregate, event = split_topic(recorded.topic)
                new_run = aggregate == "BatchRun" and event == "Created"
                if recorded.originator_id not in watched and not new_run:
                    continue
                payload = container.mapper.decode_state(recorded)
                if new_run and str(payload.get("job_id")) == str(jid):
                    watched.add(recorded.originator_id)
                if recorded.originator_id not in watched:
                    continue
                is_run = aggregate == "BatchRun"
                yield BatchJobUpdate(
                    cursor=encode_cursor(recorded.position),
                    job_id=strawberry.ID(str(jid)),
                    run_id=strawberry.ID(str(recorded.originator_id)) if is_run else None,
                    event=event,
                    status=_STATUS.get(event) if is_run else None,
                    data=cast(JSON, _plain(payload)),
                )


def _plain(payload: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key in ("progress", "result", "reason", "attempt", "scheduled_at", "trigger", "worker"):
        if key in payload:
            value = payload[key]
            shown[key] = value if isinstance(value, str | int | float | dict | list) else str(value)
    return shown
