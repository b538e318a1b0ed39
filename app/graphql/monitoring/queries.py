"""serviceMetrics and batchRunMetrics: rolled-up series over a time range.
Annotations: the service's own events in the window, read from the log."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry

from app.bootstrap import Container
from app.graphql.context import Info
from app.graphql.errors import InvalidState, NotFound, ValidationError
from app.graphql.monitoring.types import (
    Annotation,
    BatchJobMetrics,
    BatchJobMetricsResult,
    BatchRunMetrics,
    MetricPoint,
    ServiceMetrics,
    ServiceMetricsResult,
    VersionSeries,
)
from app.graphql.permissions import IsViewer
from app.monitoring import batch, store
from app.monitoring.monitor import Monitoring
from app.monitoring.series import WindowError, plan, series
from projections.audit import split_topic
from projections.batch import get_job
from projections.services import ServiceRow, get_service

From = Annotated[datetime, strawberry.argument(name="from")]
To = Annotated[datetime, strawberry.argument(name="to")]
OFF = InvalidState(
    message="monitoring is off on this server (MODELREPO_MONITORING=false)",
    kind="monitoring",
    state="off",
)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _find_service(info: Info, service: str) -> ServiceRow | None:
    db = info.context.container.db
    text = service.strip()
    row = await get_service(db, name=text)
    if row is None:
        try:
            row = await get_service(db, id=str(UUID(text)))
        except ValueError:
            return None
    return row


def _monitoring(info: Info) -> Monitoring | None:
    return info.context.container.monitoring


def _split(deployments: list[dict[str, Any]]) -> str:
    return ", ".join(f"V{d['number']} {d['weight']}%" for d in deployments)


def describe(event_type: str, payload: dict[str, Any]) -> tuple[str, int | None, str]:
    """(kind, revision, summary) of one Service event."""
    if event_type == "Published":
        return "deploy", 1, f"published: {_split(payload['deployments'])}"
    if event_type == "SpecChanged":
        kind = str(payload["kind"])
        split = _split(payload["deployments"]) or "no versions"
        if kind == "rollback":
            return (
                kind,
                payload["revision"],
                f"rolled back to revision {payload['restored']}: {split}",
            )
        return kind, payload["revision"], f"{kind.replace('_', ' ')}: {split}"
    if event_type == "StatusChanged":
        reason = f": {payload['reason']}" if payload.get("reason") else ""
        return "status", None, f"{payload['status']}{reason}"
    if event_type == "VersionFailed":
        return "version_failed", payload["revision"], str(payload["reason"])
    if event_type == "KeyRotated":
        return "key_rotated", None, "access key rotated"
    if event_type == "Deleted":
        return "deleted", None, "service deleted"
    return event_type.lower(), None, event_type


async def service_annotations(
    container: Container, service_id: str, start: datetime, end: datetime
) -> list[Annotation]:
    events = await container.store.read_aggregate(UUID(service_id), until=end)
    out = []
    for event in events:
        if event.recorded_at < start:
            continue
        _, event_type = split_topic(event.topic)
        kind, revision, summary = describe(event_type, container.mapper.decode_state(event))
        out.append(
            Annotation(
                time=event.recorded_at,
                type=event_type,
                kind=kind,
                revision=revision,
                actor=event.meta.actor,
                reason=event.meta.reason,
                summary=summary,
            )
        )
    return out


@strawberry.type
class MonitoringQueries:
    @strawberry.field(
        permission_classes=[IsViewer],
        description="A service's metrics per version between from and to, one point per step"
        " seconds, with the service's own events in that window as annotations.",
    )
    async def service_metrics(
        self, info: Info, service: str, start: From, end: To, step: int = 60
    ) -> ServiceMetricsResult:
        monitoring = _monitoring(info)
        if monitoring is None:
            return OFF
        row = await _find_service(info, service)
        if row is None:
            return NotFound(message=f"no service named or with id {service[:80]!r}", kind="service")
        start, end = _utc(start), _utc(end)
        tiers = monitoring.rollup.tiers
        try:
            window = plan(
                start.timestamp(), end.timestamp(), step, tiers, time.time(), monitoring.max_points
            )
        except WindowError as exc:
            return ValidationError(message=str(exc), field=exc.field)
        db = info.context.container.db
        points = await store.read(db, window.resolution, row.id, window.start, window.end)
        by_version = series(points, window)
        return ServiceMetrics(
            service_id=strawberry.ID(row.id),
            service=row.name,
            start=datetime.fromtimestamp(window.start, UTC),
            end=datetime.fromtimestamp(window.end, UTC),
            step=window.step,
            requested_step=step,
            resolution=window.resolution,
            truncated=window.truncated,
            notes=list(window.notes),
            series=[
                VersionSeries(
                    version=version,
                    requests=sum(s.requests for s in samples),
                    points=[MetricPoint.from_sample(s) for s in samples],
                )
                for version, samples in by_version.items()
            ],
            annotations=await service_annotations(info.context.container, row.id, start, end),
        )

    @strawberry.field(
        permission_classes=[IsViewer],
        description="Rows, duration and rows/s of a batch job's runs that finished between"
        " from and to.",
    )
    async def batch_job_metrics(
        self, info: Info, job_id: strawberry.ID, start: From, end: To
    ) -> BatchJobMetricsResult:
        if _monitoring(info) is None:
            return OFF
        start, end = _utc(start), _utc(end)
        if start >= end:
            return ValidationError(message="from must be before to", field="from")
        db = info.context.container.db
        try:
            job = await get_job(db, str(UUID(str(job_id))))
        except ValueError:
            job = None
        if job is None:
            return NotFound(message=f"no batch job with id {str(job_id)[:80]!r}", kind="job")
        runs = await batch.for_job(db, job.id, int(start.timestamp()), int(end.timestamp()) + 1)
        return BatchJobMetrics(
            job_id=strawberry.ID(job.id), runs=[BatchRunMetrics.from_metrics(r) for r in runs]
        )


async def run_metrics(info: Info, run_id: str) -> BatchRunMetrics | None:
    """The last finished attempt's metrics of a run (batched per request)."""
    if _monitoring(info) is None:
        return None
    found = await info.context.loaders.run_metrics.load(run_id)
    return None if found is None else BatchRunMetrics.from_metrics(found)
