"""Optimization jobs: the list, and one job."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.optimize.types import OptimizationJob
from app.graphql.pagination import (
    Connection,
    check_first,
    connection,
    encode_cursor,
    pair_cursor,
    query_id,
)
from app.graphql.permissions import IsViewer
from projections.optimizations import get_job, list_jobs


@strawberry.type
class OptimizationQueries:
    @strawberry.field(permission_classes=[IsViewer])
    async def optimization_job(self, info: Info, id: strawberry.ID) -> OptimizationJob | None:
        row = await get_job(info.context.container.db, query_id(id))
        return None if row is None else OptimizationJob.from_row(row)

    @strawberry.field(permission_classes=[IsViewer], description="Newest first.")
    async def optimization_jobs(
        self,
        info: Info,
        version_id: strawberry.ID | None = None,
        status: str | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[OptimizationJob]:
        check_first(first)
        rows, has_next = await list_jobs(
            info.context.container.db,
            first=first,
            after=pair_cursor(after),
            status=status,
            version_id=query_id(version_id, "versionId") if version_id else None,
        )
        return connection(
            [
                (encode_cursor([r.created_at.isoformat(), r.id]), OptimizationJob.from_row(r))
                for r in rows
            ],
            has_next,
        )
