"""API tokens: who am I, list, create (secret shown once), revoke. Admins only, but `me`."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry

from app.graphql.context import Info
from app.graphql.errors import AlreadyDeleted, NotFound, ValidationError
from app.graphql.permissions import IsAdmin, IsViewer
from domain.token import Role as DomainRole

strawberry.enum(DomainRole, name="Role")
Role: TypeAlias = DomainRole


@strawberry.type
class ApiToken:
    id: strawberry.ID
    name: str
    role: Role
    revoked: bool


@strawberry.type
class CreatedApiToken:
    token: ApiToken
    secret: str = strawberry.field(description="Shown only now; only its hash is stored.")


CreateTokenResult = Annotated[
    CreatedApiToken | ValidationError, strawberry.union("CreateApiTokenResult")
]
RevokeTokenResult = Annotated[
    ApiToken | NotFound | AlreadyDeleted | ValidationError, strawberry.union("RevokeApiTokenResult")
]


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
