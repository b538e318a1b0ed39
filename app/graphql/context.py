"""The per-request GraphQL context: services, loaders, the caller and event metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from app.adapters.event_store.port import EventMeta
from app.bootstrap import Container
from app.services.tokens import Principal
from projections.models import ModelRow, get_models
from projections.versions import VersionRow, latest_versions


@dataclass
class Loaders:
    models: DataLoader[str, ModelRow | None]
    latest_versions: DataLoader[str, VersionRow | None]


def make_loaders(container: Container) -> Loaders:
    db = container.db

    async def load_models(ids: list[str]) -> list[ModelRow | None]:
        found = await get_models(db, list(ids))
        return [found.get(i) for i in ids]

    async def load_latest(ids: list[str]) -> list[VersionRow | None]:
        found = await latest_versions(db, list(ids))
        return [found.get(i) for i in ids]

    return Loaders(
        models=DataLoader(load_fn=load_models),
        latest_versions=DataLoader(load_fn=load_latest),
    )


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
        return make_loaders(self.container)

    def meta(self, reason: str | None = None) -> EventMeta:
        actor = self.principal.actor if self.principal else "anonymous"
        cleaned = (reason or "").strip() or None
        return EventMeta(actor=actor, request_id=self.request_id, reason=cleaned)


Info = StrawberryInfo[Context, None]
