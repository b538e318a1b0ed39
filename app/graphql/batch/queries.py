"""Batch prediction jobs: the list, and one job (also as it was at a moment)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError

from app.graphql.asof import check_as_of
from app.graphql.batch.types import (
    BatchJob,
)
from app.graphql.context import Info
from app.graphql.pagination import (
    Connection,
    check_first,
    connection,
    decode_cursor,
    encode_cursor,
    query_id,
)
from app.graphql.permissions import IsViewer
from projections.batch import get_job, list_jobs


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
            from app.graphql.batch.asof import job_as_of

            return await job_as_of(info, query_id(id), check_as_of(as_of))
        row = await get_job(info.context.container.db, query_id(id))
        return None if row is None else BatchJob.from_row(row)
