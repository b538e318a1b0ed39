"""Queries over the model lists and versions (read models; the log for asOf)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from graphql import GraphQLError

from app.graphql.context import Info
from app.graphql.models.inputs import TagInput
from app.graphql.models.types import (
    ModelFormat,
    ModelList,
    ModelType,
    ModelVersionType,
)
from app.graphql.pagination import (
    Connection,
    check_first,
    connection,
    encode_cursor,
    node_selects,
    pair_cursor,
    query_id,
)
from app.graphql.permissions import IsViewer
from domain.model import ModelList as DomainList
from projections.models import ModelFilter, get_model_by_name, list_models
from projections.versions import VersionRow, get_versions

ListArg = Annotated[ModelList, strawberry.argument(name="list")]


@strawberry.type
class ModelQueries:
    @strawberry.field(
        permission_classes=[IsViewer],
        description="Models of one list by name, filtered by name search, tags (all must"
        " match) and format (any version of that format).",
    )
    async def models(
        self,
        info: Info,
        model_list: ListArg = DomainList.ORIGINAL,
        search: str | None = None,
        tags: list[TagInput] | None = None,
        model_format: Annotated[ModelFormat | None, strawberry.argument(name="format")] = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[ModelType]:
        check_first(first)
        if search is not None and len(search) > 64:
            raise GraphQLError("search must be at most 64 characters")
        filters = ModelFilter(
            model_list=DomainList(model_list).value,
            search=search or None,
            tags=tuple((t.key, t.value) for t in tags or ()),
            model_format=model_format.value if model_format else None,
        )
        db = info.context.container.db
        rows, has_next = await list_models(db, filters, first=first, after=pair_cursor(after))
        latest: dict[str, VersionRow | None] | None = None
        if node_selects(info, "latestVersion"):
            ids = [r.id for r in rows]
            found = await info.context.loaders.latest_versions.load_many(ids)
            latest = dict(zip(ids, found, strict=True))
        return connection(
            [
                (
                    encode_cursor([r.name_key, r.id]),
                    ModelType.from_row(r)
                    if latest is None
                    else ModelType.from_row(r, latest.get(r.id)),
                )
                for r in rows
            ],
            has_next,
        )

    @strawberry.field(
        permission_classes=[IsViewer],
        description="One model by id, or by name within a list. With asOf, its state at that"
        " moment, rebuilt from the event log.",
    )
    async def model(
        self,
        info: Info,
        id: strawberry.ID | None = None,
        name: str | None = None,
        model_list: ListArg = DomainList.ORIGINAL,
        as_of: datetime | None = None,
    ) -> ModelType | None:
        if (id is None) == (name is None):
            raise GraphQLError("give exactly one of id and name")
        container = info.context.container
        if as_of is not None:
            if as_of.tzinfo is None:
                raise GraphQLError("asOf needs a time zone, e.g. 2026-01-31T12:00:00Z")
            if id is not None:
                model_id = query_id(id)
            else:
                found = await container.models.model_id_by_name_as_of(
                    name or "", DomainList(model_list), as_of
                )
                if found is None:
                    return None
                model_id = str(found)
            model = await container.models.model_as_of(model_id, as_of)
            return None if model is None else ModelType.from_aggregate(model, as_of)
        if id is not None:
            row = await info.context.loaders.models.load(query_id(id))
        else:
            row = await get_model_by_name(container.db, DomainList(model_list).value, name or "")
        return None if row is None else ModelType.from_row(row)

    @strawberry.field(permission_classes=[IsViewer])
    async def model_version(
        self, info: Info, id: strawberry.ID, as_of: datetime | None = None
    ) -> ModelVersionType | None:
        version_id = query_id(id)
        if as_of is not None:
            if as_of.tzinfo is None:
                raise GraphQLError("asOf needs a time zone, e.g. 2026-01-31T12:00:00Z")
            version = await info.context.container.models.version_as_of(version_id, as_of)
            return None if version is None else ModelVersionType.from_aggregate(version, as_of)
        rows = await get_versions(info.context.container.db, [version_id])
        row = rows.get(version_id)
        return None if row is None else ModelVersionType.from_row(row)
