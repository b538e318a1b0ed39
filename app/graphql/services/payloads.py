"""The payloads and result unions of the service mutations."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from app.graphql.errors import (
    AlreadyDeleted,
    InvalidState,
    NameTaken,
    NotFound,
    ValidationError,
)
from app.graphql.services.types import Service


@strawberry.type
class ServicePayload:
    service: Service


@strawberry.type(description="The access key is shown here once; editors can reveal it later.")
class ServiceWithKey:
    service: Service
    access_key: str


ServiceResult = Annotated[
    ServicePayload | NotFound | AlreadyDeleted | InvalidState | ValidationError,
    strawberry.union("ServiceResult"),
]
PublishResult = Annotated[
    ServiceWithKey | NameTaken | NotFound | AlreadyDeleted | InvalidState | ValidationError,
    strawberry.union("PublishServiceResult"),
]


@strawberry.type
class DeletedService:
    id: strawberry.ID
    name: str


@strawberry.type(description="What the predict path answered for the sample payload.")
class TestServiceSuccess:
    response: JSON
    status_code: int
    latency_ms: float
    version_number: int | None = strawberry.field(description="The version that answered.")


DeleteServiceResult = Annotated[
    DeletedService | NotFound | AlreadyDeleted | ValidationError,
    strawberry.union("DeleteServiceResult"),
]
TestServiceResult = Annotated[
    TestServiceSuccess | NotFound | ValidationError, strawberry.union("TestServiceResult")
]
KeyResult = Annotated[
    ServiceWithKey | NotFound | AlreadyDeleted | ValidationError,
    strawberry.union("RotateServiceKeyResult"),
]
