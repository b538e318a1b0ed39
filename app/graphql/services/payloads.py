"""The inputs, payloads and result unions of the service mutations."""

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
from app.services.deployments import VersionChoice


@strawberry.input
class DeployVersionInput:
    version_id: strawberry.ID
    instances: int = 1
    cpu: float = 1.0
    memory_mb: int = 1024
    gpus: int = 0
    runtime: str | None = strawberry.field(
        default=None, description="Override the version's runtime (e.g. custom)."
    )
    traffic_percent: int = 0

    def to_choice(self) -> VersionChoice:
        return VersionChoice(
            version_id=str(self.version_id),
            instances=self.instances,
            cpu=self.cpu,
            memory_mb=self.memory_mb,
            gpus=self.gpus,
            runtime=self.runtime,
            weight=self.traffic_percent,
        )


@strawberry.input
class TrafficInput:
    version_id: strawberry.ID
    percent: int


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
