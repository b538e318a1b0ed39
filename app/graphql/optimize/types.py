"""GraphQL types of optimization jobs and their reports."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.graphql.context import Info
from app.graphql.errors import AlreadyDeleted, InvalidState, NotFound, ValidationError
from app.graphql.scalars import BigInt
from domain.optimization import Method
from projections.optimizations import JobRow

if TYPE_CHECKING:
    from app.graphql.models.types import ModelVersionType

VersionType = Annotated["ModelVersionType", strawberry.lazy("app.graphql.models.types")]


# The domain's methods, as they are: one list to extend.
OptimizationMethod = strawberry.enum(
    Method,
    name="OptimizationMethod",
    description="How to optimize; each fits one format (see the README).",
)


@strawberry.type
class OptimizationReport:
    latency_p50_ms_before: float
    latency_p50_ms_after: float
    speedup: float | None = strawberry.field(description="p50 before / p50 after.")
    size_before: BigInt = strawberry.field(description="Bytes of the source model file(s).")
    size_after: BigInt
    samples: int = strawberry.field(description="Samples whose outputs were compared.")
    batch_size: int
    repeats: int
    input: str = strawberry.field(description="given (exampleInput) or generated")
    max_abs_diff: float | None = strawberry.field(
        description="Largest absolute output difference; null when unbounded (NaN, inf)."
    )
    top1_agreement: float | None = strawberry.field(
        description="Share of rows whose argmax is unchanged; null when not a classifier."
    )
    classifier_output: str | None

    @classmethod
    def from_dict(cls, report: dict[str, Any]) -> OptimizationReport | None:
        if not report:
            return None
        return cls(
            latency_p50_ms_before=report["latency_p50_ms_before"],
            latency_p50_ms_after=report["latency_p50_ms_after"],
            speedup=report["speedup"],
            size_before=BigInt(report["size_before"]),
            size_after=BigInt(report["size_after"]),
            samples=report["samples"],
            batch_size=report["batch_size"],
            repeats=report["repeats"],
            input=report["input"],
            max_abs_diff=report["max_abs_diff"],
            top1_agreement=report["top1_agreement"],
            classifier_output=report["classifier_output"],
        )


@strawberry.type
class LogLine:
    at: str
    message: str


@strawberry.type
class OptimizationJob:
    id: strawberry.ID
    version_id: strawberry.ID
    methods: list[str]
    source_format: str
    result_format: str
    target_model: str = strawberry.field(description="The model in the OPTIMIZED list.")
    status: str = strawberry.field(description="PENDING, RUNNING, SUCCEEDED or FAILED")
    progress: float = strawberry.field(description="0 to 1")
    log: list[LogLine]
    reason: str = strawberry.field(description="Why it failed.")
    report: OptimizationReport | None
    result_version_id: strawberry.ID | None
    created_at: datetime
    created_by: str
    updated_at: datetime

    @strawberry.field(description="The version being optimized.")
    async def source_version(self, info: Info) -> VersionType | None:
        return await _version(info, str(self.version_id))

    @strawberry.field(description="The optimized version (SUCCEEDED jobs).")
    async def result_version(self, info: Info) -> VersionType | None:
        return (
            None
            if self.result_version_id is None
            else await _version(info, str(self.result_version_id))
        )

    @classmethod
    def from_row(cls, row: JobRow) -> OptimizationJob:
        return cls(
            id=strawberry.ID(row.id),
            version_id=strawberry.ID(row.version_id),
            methods=row.methods,
            source_format=row.source_format,
            result_format=row.result_format,
            target_model=row.target_model,
            status=row.status,
            progress=row.progress,
            log=[LogLine(at=line["at"], message=line["message"]) for line in row.log],
            reason=row.reason,
            report=OptimizationReport.from_dict(row.report),
            result_version_id=strawberry.ID(row.result_version_id)
            if row.result_version_id
            else None,
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
        )


@strawberry.type
class OptimizationJobPayload:
    job: OptimizationJob


OptimizeResult = Annotated[
    OptimizationJobPayload | ValidationError | NotFound | AlreadyDeleted | InvalidState,
    strawberry.union("OptimizeResult"),
]


async def _version(info: Info, version_id: str) -> ModelVersionType | None:
    from app.graphql.models.types import ModelVersionType

    row = await info.context.loaders.versions.load(version_id)
    return None if row is None else ModelVersionType.from_row(row)


# Resolvers of ModelVersion fields (app.graphql.models.types delegates here).


async def optimized_from(info: Info, version_id: str) -> ModelVersionType | None:
    job = await info.context.loaders.optimization_jobs_of_results.load(version_id)
    return None if job is None else await _version(info, job.version_id)


async def optimizations(info: Info, version_id: str) -> list[ModelVersionType]:
    from app.graphql.models.types import ModelVersionType

    loaders = info.context.loaders
    ids = await loaders.optimizations_of_versions.load(version_id)
    rows = await loaders.versions.load_many(ids)
    return [ModelVersionType.from_row(row) for row in rows if row is not None]


async def report_of(info: Info, version_id: str) -> OptimizationReport | None:
    job = await info.context.loaders.optimization_jobs_of_results.load(version_id)
    return None if job is None else OptimizationReport.from_dict(job.report)


async def job_of(info: Info, version_id: str) -> OptimizationJob | None:
    job = await info.context.loaders.optimization_jobs_of_results.load(version_id)
    return None if job is None else OptimizationJob.from_row(job)
