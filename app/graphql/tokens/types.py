"""API tokens and the results of their mutations."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry

from app.graphql.errors import AlreadyDeleted, NotFound, ValidationError
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
