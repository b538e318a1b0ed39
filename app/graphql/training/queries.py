"""Training tasks: the list (newest first), and one task."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.pagination import (
    Connection,
    check_first,
    connection,
    encode_cursor,
    pair_cursor,
    query_id,
)
from app.graphql.permissions import IsViewer
from app.graphql.training.types import TrainingStatus, TrainingTask
from projections.base import iso
from projections.training import (
    get_training_task,
    list_training_tasks,
)


@strawberry.type
class TrainingQueries:
    @strawberry.field(permission_classes=[IsViewer], description="Newest first.")
    async def training_tasks(
        self,
        info: Info,
        status: TrainingStatus | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[TrainingTask]:
        check_first(first)
        rows, has_next = await list_training_tasks(
            info.context.container.db,
            first=first,
            before=pair_cursor(after),
            status=status.value if status else None,
        )
        return connection(
            [(encode_cursor([iso(r.created_at), r.id]), TrainingTask.from_row(r)) for r in rows],
            has_next,
        )

    @strawberry.field(permission_classes=[IsViewer])
    async def training_task(self, info: Info, id: strawberry.ID) -> TrainingTask | None:
        row = await get_training_task(info.context.container.db, query_id(id))
        return None if row is None else TrainingTask.from_row(row)
