"""`events(after, aggregateTypes)`: every event as it is recorded — the general feed. Each
carries its log position as its cursor; resuming with the last one misses and repeats
nothing. Hashes of secrets are redacted as in `history`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import strawberry

from app.graphql.context import Info
from app.graphql.history.types import FeedEvent, from_recorded
from app.graphql.pagination import encode_cursor, int_cursor
from app.graphql.permissions import IsViewer
from projections.audit import split_topic


@strawberry.type
class FeedSubscriptions:
    @strawberry.subscription(
        permission_classes=[IsViewer],
        description="Events as they are recorded, after the cursor (a position; none: from"
        " now on); `aggregateTypes` such as Model, ModelVersion, Service, BatchRun narrow it.",
    )
    async def events(
        self,
        info: Info,
        after: str | None = None,
        aggregate_types: list[str] | None = None,
    ) -> AsyncGenerator[FeedEvent, None]:
        container = info.context.container
        position = int_cursor(after)
        if position is None:
            position = await container.store.last_position()
        wanted = set(aggregate_types) if aggregate_types else None
        async with contextlib.aclosing(container.feed.follow(position)) as feed:
            async for recorded in feed:
                aggregate, _ = split_topic(recorded.topic)
                if wanted is not None and aggregate not in wanted:
                    continue
                yield FeedEvent(
                    cursor=encode_cursor(recorded.position),
                    event=from_recorded(recorded, container.mapper.decode_state(recorded)),
                )
