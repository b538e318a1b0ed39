"""Training tasks: create, report metrics, finish."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.models.inputs import MetricInput
from app.graphql.permissions import IsEditor
from app.graphql.training.types import TrainingResult, TrainingTask, TrainingTaskPayload
from domain.rules import metric_pairs
from projections.training import (
    get_training_task,
)


async def _payload(info: Info, task_id: str) -> TrainingTaskPayload:
    row = await get_training_task(info.context.container.db, task_id)
    assert row is not None  # read-your-writes
    return TrainingTaskPayload(task=TrainingTask.from_row(row))


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
