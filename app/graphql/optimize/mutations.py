"""Optimization: start a job on a version (follow it with the queries)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from app.graphql.context import Info
from app.graphql.optimize.types import OptimizationJob, OptimizationJobPayload, OptimizeResult
from app.graphql.permissions import IsEditor
from domain.optimization import Method
from projections.optimizations import get_job


@strawberry.type
class OptimizationMutations:
    @strawberry.mutation(
        permission_classes=[IsEditor],
        description=(
            "Start a job that makes an optimized version of this one in the OPTIMIZED list"
            ' (model "<name>-optimized" unless targetModel names another). Every check runs'
            " first: the version must be READY with files, the methods must fit its format,"
            " the example input must fit the model."
        ),
    )
    async def optimize_model_version(
        self,
        info: Info,
        version_id: strawberry.ID,
        methods: list[Method],  # exposed as OptimizationMethod (types.py)
        target_model: str | None = None,
        example_input: Annotated[
            JSON | None,
            strawberry.argument(
                description="A nested list (the only input) or an object by input name, batch"
                " first; generated from the inputs of ONNX models when absent."
            ),
        ] = None,
        samples: Annotated[int, strawberry.argument(description="Outputs compared.")] = 32,
        repeats: Annotated[int, strawberry.argument(description="Timed runs for the p50.")] = 30,
        max_abs_diff: Annotated[
            float | None, strawberry.argument(description="Fail when outputs differ by more.")
        ] = None,
        min_top1_agreement: Annotated[
            float | None,
            strawberry.argument(description="Fail when a classifier agrees less (0..1)."),
        ] = None,
        runtime: Annotated[
            str | None,
            strawberry.argument(description="The new version's runtime (default: the source's)."),
        ] = None,
        reason: str | None = None,
    ) -> OptimizeResult:
        options: dict[str, Any] = {
            "example_input": example_input,
            "samples": samples,
            "repeats": repeats,
            "max_abs_diff": max_abs_diff,
            "min_top1_agreement": min_top1_agreement,
            "runtime": (runtime or "").strip() or None,
        }
        container = info.context.container
        job = await container.optimizations.request(
            version_id,
            [m.value for m in methods],
            target_model=target_model,
            options=options,
            meta=info.context.meta(reason),
        )
        row = await get_job(container.db, str(job.id))
        if row is None:
            raise GraphQLError("the job was not recorded")  # read-your-writes guarantees it
        return OptimizationJobPayload(job=OptimizationJob.from_row(row))
