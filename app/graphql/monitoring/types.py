"""GraphQL types of service and batch metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry

from app.graphql.errors import InvalidState, NotFound, ValidationError
from app.graphql.scalars import BigInt
from app.monitoring.batch import RunMetrics
from app.monitoring.series import Sample


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


@strawberry.type(description="One step of one version's series.")
class MetricPoint:
    time: datetime = strawberry.field(description="The start of the step.")
    requests: int
    ok: int = strawberry.field(description="2xx answers.")
    client_errors: int = strawberry.field(description="4xx answers.")
    server_errors: int = strawberry.field(description="5xx answers.")
    throughput: float = strawberry.field(description="Requests per second over the step.")
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    inflight_peak: int = strawberry.field(
        description="The most requests in flight at once (summed over server processes)."
    )
    load_seconds: float | None = strawberry.field(
        description="How long the version took to load, when it loaded in this step."
    )
    cpu_percent: float | None = strawberry.field(
        description="CPU of the server processes that served this version (100 = one core)."
    )
    memory_bytes: BigInt | None = strawberry.field(
        description="Resident memory of those processes, summed."
    )

    @classmethod
    def from_sample(cls, s: Sample) -> MetricPoint:
        return cls(
            time=datetime.fromtimestamp(s.time, UTC),
            requests=s.requests,
            ok=s.statuses[1],
            client_errors=s.statuses[3],
            server_errors=s.statuses[4],
            throughput=round(s.throughput, 6),
            mean_ms=_ms(s.mean),
            p50_ms=_ms(s.quantile(0.5)),
            p90_ms=_ms(s.quantile(0.9)),
            p99_ms=_ms(s.quantile(0.99)),
            inflight_peak=s.inflight_peak,
            load_seconds=s.load_seconds,
            cpu_percent=None if s.cpu_percent is None else round(s.cpu_percent, 3),
            memory_bytes=None if s.memory_bytes is None else BigInt(s.memory_bytes),
        )


@strawberry.type
class VersionSeries:
    version: int | None = strawberry.field(
        description="The version number; null for answers given before a version was chosen"
        " (a wrong access key, a service not serving yet)."
    )
    requests: int = strawberry.field(description="Over the whole window.")
    points: list[MetricPoint]


@strawberry.type(description="Something that happened to the service (from the event log).")
class Annotation:
    time: datetime
    type: str = strawberry.field(description="The event: Published, SpecChanged, ...")
    kind: str = strawberry.field(
        description="deploy, traffic, upgrade, rollback, update, version_removed, status,"
        " version_failed, key_rotated or deleted"
    )
    revision: int | None
    actor: str
    reason: str | None
    summary: str


@strawberry.type
class ServiceMetrics:
    service_id: strawberry.ID
    service: str
    start: datetime = strawberry.field(name="from", description="The first point's time.")
    end: datetime = strawberry.field(name="to")
    step: int = strawberry.field(description="Seconds per point, as answered.")
    requested_step: int
    resolution: int = strawberry.field(description="Seconds per stored interval read.")
    truncated: bool = strawberry.field(
        description="True when the range held more points than allowed for the step asked,"
        " so the step was widened (see notes)."
    )
    notes: list[str]
    series: list[VersionSeries]
    annotations: list[Annotation]


@strawberry.type(description="Rows, duration and rows/s of one finished batch run attempt.")
class BatchRunMetrics:
    run_id: strawberry.ID
    attempt: int
    job_id: strawberry.ID
    status: str
    rows: BigInt | None
    duration_seconds: float
    rows_per_second: float | None
    finished_at: datetime

    @classmethod
    def from_metrics(cls, m: RunMetrics) -> BatchRunMetrics:
        rate = m.rows_per_second
        return cls(
            run_id=strawberry.ID(m.run_id),
            attempt=m.attempt,
            job_id=strawberry.ID(m.job_id),
            status=m.status,
            rows=None if m.rows is None else BigInt(m.rows),
            duration_seconds=round(m.seconds, 6),
            rows_per_second=None if rate is None else round(rate, 3),
            finished_at=m.finished_at,
        )


@strawberry.type
class BatchJobMetrics:
    job_id: strawberry.ID
    runs: list[BatchRunMetrics] = strawberry.field(description="Oldest first.")


ServiceMetricsResult = Annotated[
    ServiceMetrics | NotFound | ValidationError | InvalidState,
    strawberry.union("ServiceMetricsResult"),
]
BatchJobMetricsResult = Annotated[
    BatchJobMetrics | NotFound | ValidationError | InvalidState,
    strawberry.union("BatchJobMetricsResult"),
]
