"""The per-request GraphQL context: services, loaders, the caller and event metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from strawberry.types import Info as StrawberryInfo

from app.adapters.event_store.port import EventMeta
from app.bootstrap import Container
from app.graphql.loaders import Loaders, make_loaders
from app.services.tokens import Principal


@dataclass
class Context:
    container: Container
    principal: Principal | None
    request_id: str
    request: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    # graphql-transport-ws connection_init payload (browsers send the token there).
    connection_params: Any = None

    @cached_property
    def loaders(self) -> Loaders:
        """Built on first use: most operations (every mutation of a version) use none."""
        return make_loaders(self.container.db)

    def meta(self, reason: str | None = None) -> EventMeta:
        actor = self.principal.actor if self.principal else "anonymous"
        cleaned = (reason or "").strip() or None
        return EventMeta(actor=actor, request_id=self.request_id, reason=cleaned)


Info = StrawberryInfo[Context, None]
