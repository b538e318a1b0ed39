"""API tokens: who am I, and the list (admins only)."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.permissions import IsAdmin, IsViewer
from app.graphql.tokens.types import ApiToken
from domain.token import Role as DomainRole


@strawberry.type
class TokenQueries:
    @strawberry.field(permission_classes=[IsViewer], description="The caller's token.")
    def me(self, info: Info) -> ApiToken:
        principal = info.context.principal
        assert principal is not None  # IsViewer ran
        return ApiToken(
            id=strawberry.ID(principal.token_id),
            name=principal.name,
            role=principal.role,
            revoked=False,
        )

    @strawberry.field(permission_classes=[IsAdmin])
    async def api_tokens(self, info: Info) -> list[ApiToken]:
        rows = await info.context.container.tokens.list()
        return [
            ApiToken(
                id=strawberry.ID(r.id), name=r.name, role=DomainRole(r.role), revoked=r.revoked
            )
            for r in rows
        ]
