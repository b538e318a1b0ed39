"""Training tasks: create, report metrics, finish; list and read them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeAlias

import strawberry
from graphql import GraphQLError

from app.graphql.context import Info
from app.graphql.errors import InvalidState, NotFound, ValidationError
from app.graphql.models.types import Metric, MetricInput
from app.graphql.pagination import (
    Connection,
    check_first,
    connection,
    encode_cursor,
    pair_cursor,
    query_id,
)
from app.graphql.permissions import IsEditor, IsViewer
from domain.rules import metric_pairs
from domain.training import TrainingStatus as DomainStatus
from projections.base import iso
from projections.training import (
    TrainingRow,
    get_training_task,
    list_training_tasks,
    metric_history,
)

strawberry.enum(DomainStatus, name="TrainingStatus")
TrainingStatus: TypeAlias = DomainStatus


@strawberry.type
class MetricReport:
    step: int | None
    name: str
    value: float
    reported_at: datetime


@strawberry.type
class TrainingTask:
    id: strawberry.ID
    name: str
    framework: str
    output_uri: str
    status: TrainingStatus
    message: str
    latest_metrics: list[Metric]
    created_at: datetime
    created_by: str
    updated_at: datetime

    @strawberry.field(description="Every reported value, oldest first (at most `last`).")
    async def metric_history(self, info: Info, last: int = 1000) -> list[MetricReport]:
        if not 1 <= last <= 10_000:
            raise GraphQLError("last must be between 1 and 10000")
        points = await metric_history(info.context.container.db, str(self.id), limit=last)
        return [
            MetricReport(step=p.step, name=p.name, value=p.value, reported_at=p.reported_at)
            for p in points
        ]

    @classmethod
    def from_row(cls, row: TrainingRow) -> TrainingTask:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            framework=row.framework,
            output_uri=row.output_uri,
            status=DomainStatus(row.status),
            message=row.message,
            latest_metrics=[Metric(name=k, value=v) for k, v in sorted(row.latest_metrics.items())],
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
        )


@strawberry.type
class TrainingTaskPayload:
    task: TrainingTask


TrainingResult = Annotated[
    TrainingTaskPayload | NotFound | InvalidState | ValidationError,
    strawberry.union("TrainingTaskResult"),
]


async def _payload(info: Info, task_id: str) -> TrainingTaskPayload:
    row = await get_training_task(info.context.container.db, task_id)
    assert row is not None  # read-your-writes
    return TrainingTaskPayload(task=TrainingTask.from_row(row))


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


@strawberry.type
class TrainingMutations:
    @strawberry.mutation(permission_classes=[IsEditor])
    async def create_training_task(
        self, info: Info, name: str, framework: str, output_uri: str
    ) -> TrainingResult:
        task = await info.context.container.training.create(
            name, framework, output_uri, meta=info.context.meta()
        )
        return await _payload(info, str(task.id))

    @strawberry.mutation(
        permission_classes=[IsEditor], description="Report metric values (e.g. per epoch)."
    )
    async def report_training_metrics(
        self,
        info: Info,
        task_id: strawberry.ID,
        metrics: list[MetricInput],
        step: int | None = None,
    ) -> TrainingResult:
        task = await info.context.container.training.report_metrics(
            task_id,
            metric_pairs([(m.name, m.value) for m in metrics]),
            step,
            meta=info.context.meta(),
        )
        return await _payload(info, str(task.id))

    @strawberry.mutation(permission_classes=[IsEditor])
    async def finish_training_task(
        self, info: Info, task_id: strawberry.ID, succeeded: bool = True, message: str | None = None
    ) -> TrainingResult:
        task = await info.context.container.training.finish(
            task_id, succeeded, message, meta=info.context.meta()
        )
        return await _payload(info, str(task.id))
