"""Annotations for a metrics window: the service's own events, read from the log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry

from app.bootstrap import Container
from projections.audit import split_topic


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
