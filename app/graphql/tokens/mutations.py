"""API tokens: create (the secret is shown once), revoke. Admins only."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.permissions import IsAdmin
from app.graphql.tokens.types import (
    ApiToken,
    CreatedApiToken,
    CreateTokenResult,
    RevokeTokenResult,
    Role,
)
from domain.token import Role as DomainRole


@strawberry.type
class TokenMutations:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_api_token(self, info: Info, name: str, role: Role) -> CreateTokenResult:
        secret, token = await info.context.container.tokens.create(
            name, DomainRole(role), meta=info.context.meta()
        )
        return CreatedApiToken(
            token=ApiToken(
                id=strawberry.ID(str(token.id)), name=token.name, role=role, revoked=False
            ),
            secret=secret,
        )

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def revoke_api_token(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> RevokeTokenResult:
        token = await info.context.container.tokens.revoke(id, meta=info.context.meta(reason))
        return ApiToken(
            id=strawberry.ID(str(token.id)),
            name=token.name,
            role=DomainRole(token.role),
            revoked=token.revoked,
        )
