"""Events as the API shows them: in an aggregate's history, the audit log and the feed."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from app.adapters.event_store.port import RecordedEvent
from projections.audit import split_topic

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


@strawberry.type
class FeedEvent:
    cursor: str = strawberry.field(description="Pass it as `after` to resume after this event.")
    event: HistoryEvent


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
