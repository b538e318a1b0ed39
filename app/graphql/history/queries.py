"""History (from the event log) and the audit log (a read model)."""

from __future__ import annotations

from uuid import UUID

import strawberry

from app.graphql.context import Info
from app.graphql.history.types import HistoryEvent, from_recorded
from app.graphql.pagination import (
    Connection,
    check_first,
    connection,
    encode_cursor,
    int_cursor,
    query_id,
)
from app.graphql.permissions import IsViewer
from projections.audit import AuditRow, list_audit


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
