"""Training tasks, their reported metrics, and the result of their mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeAlias

import strawberry
from graphql import GraphQLError

from app.graphql.context import Info
from app.graphql.errors import InvalidState, NotFound, ValidationError
from app.graphql.models.types import Metric
from domain.training import TrainingStatus as DomainStatus
from projections.training import (
    TrainingRow,
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
