"""History (from the event log) and the audit log (a read model)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from app.adapters.event_store.port import RecordedEvent
from app.graphql.context import Info
from app.graphql.pagination import (
    Connection,
    check_first,
    connection,
    encode_cursor,
    int_cursor,
    query_id,
)
from app.graphql.permissions import IsViewer
from projections.audit import AuditRow, list_audit, split_topic

# The library's bookkeeping: when the event object was made, the aggregate class, and the
# version of an event class whose older events are upcast on reading (NameClaim's).
_HIDDEN = {"timestamp", "originator_topic", "class_version"}
# Hashes of API tokens and service access keys: not secrets, but nobody's business.
_REDACTED = {"token_hash", "key_hash"}


@strawberry.type
class HistoryEvent:
    position: int
    aggregate_id: strawberry.ID
    aggregate_type: str
    aggregate_version: int
    type: str
    actor: str
    recorded_at: datetime
    request_id: str
    reason: str | None
    payload: JSON | None = strawberry.field(
        description="The event's data (null in the audit log; ask history for it)."
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def from_recorded(event: RecordedEvent, payload: dict[str, Any]) -> HistoryEvent:
    aggregate_type, event_type = split_topic(event.topic)
    shown = {
        k: ("<redacted>" if k in _REDACTED else _plain(v))
        for k, v in payload.items()
        if k not in _HIDDEN
    }
    return HistoryEvent(
        position=event.position,
        aggregate_id=strawberry.ID(str(event.originator_id)),
        aggregate_type=aggregate_type,
        aggregate_version=event.originator_version,
        type=event_type,
        actor=event.meta.actor,
        recorded_at=event.recorded_at,
        request_id=event.meta.request_id,
        reason=event.meta.reason,
        payload=cast(JSON, shown),
    )


def _from_audit(row: AuditRow) -> HistoryEvent:
    return HistoryEvent(
        position=row.position,
        aggregate_id=strawberry.ID(row.originator_id),
        aggregate_type=row.aggregate_type,
        aggregate_version=row.originator_version,
        type=row.event_type,
        actor=row.actor,
        recorded_at=row.recorded_at,
        request_id=row.request_id,
        reason=row.reason,
        payload=None,
    )


@strawberry.type
class HistoryQueries:
    @strawberry.field(
        permission_classes=[IsViewer],
        description="Every event of one aggregate (model, version, token, ...), oldest first,"
        " with who recorded it and when. Read from the event log.",
    )
    async def history(
        self, info: Info, aggregate_id: strawberry.ID, first: int = 100, after: str | None = None
    ) -> Connection[HistoryEvent]:
        check_first(first)
        originator = UUID(query_id(aggregate_id, "aggregateId"))
        container = info.context.container
        events = await container.store.read_aggregate(originator, after_version=int_cursor(after))
        page = events[:first]
        items = [
            (
                encode_cursor(e.originator_version),
                from_recorded(e, container.mapper.decode_state(e)),
            )
            for e in page
        ]
        return connection(items, len(events) > first)

    @strawberry.field(
        permission_classes=[IsViewer],
        description="Everything that happened, newest first; filter by actor or aggregate.",
    )
    async def audit_log(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        actor: str | None = None,
        aggregate_id: strawberry.ID | None = None,
    ) -> Connection[HistoryEvent]:
        check_first(first)
        rows, has_next = await list_audit(
            info.context.container.db,
            first=first,
            before=int_cursor(after),
            actor=actor,
            aggregate_id=str(aggregate_id) if aggregate_id else None,
        )
        return connection([(encode_cursor(r.position), _from_audit(r)) for r in rows], has_next)
