"""Services: the list, and one service by id or name (also as it was at a moment)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError

from app.graphql.asof import check_as_of
from app.graphql.context import Info
from app.graphql.pagination import (
    Connection,
    check_first,
    connection,
    decode_cursor,
    encode_cursor,
    query_id,
)
from app.graphql.permissions import IsViewer
from app.graphql.services.asof import service_as_of, service_id_by_name_as_of
from app.graphql.services.types import Service
from projections.services import get_service, list_services


@strawberry.type
class ServiceQueries:
    @strawberry.field(permission_classes=[IsViewer], description="Services by name.")
    async def services(
        self, info: Info, search: str | None = None, first: int = 20, after: str | None = None
    ) -> Connection[Service]:
        check_first(first)
        cursor = decode_cursor(after)
        if cursor is not None and not isinstance(cursor, str):
            raise GraphQLError("invalid cursor")
        rows, has_next = await list_services(
            info.context.container.db, first=first, after=cursor, search=search
        )
        return connection([(encode_cursor(r.name), Service.from_row(r)) for r in rows], has_next)

    @strawberry.field(
        permission_classes=[IsViewer],
        description="One service by id or name. With asOf, its state at that moment, rebuilt"
        " from the event log (null if it did not exist yet).",
    )
    async def service(
        self,
        info: Info,
        id: strawberry.ID | None = None,
        name: str | None = None,
        as_of: datetime | None = None,
    ) -> Service | None:
        if (id is None) == (name is None):
            raise GraphQLError("give exactly one of id and name")
        if as_of is not None:
            check_as_of(as_of)
            service_id = (
                query_id(id)
                if id is not None
                else await service_id_by_name_as_of(info, (name or "").strip(), as_of)
            )
            return None if service_id is None else await service_as_of(info, service_id, as_of)
        db = info.context.container.db
        row = (
            await get_service(db, id=query_id(id))
            if id is not None
            else await get_service(db, name=(name or "").strip())
        )
        return None if row is None else Service.from_row(row)
