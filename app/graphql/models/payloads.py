"""The payloads and result unions of the model, version and download-link mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.graphql.context import Info
from app.graphql.errors import (
    AlreadyDeleted,
    InUse,
    InvalidState,
    NameTaken,
    NotFound,
    SourceUnavailable,
    ValidationError,
)
from app.graphql.models.types import ModelType, ModelVersionType
from projections.versions import get_versions


@strawberry.type
class ImportSuccess:
    """Read lazily, when asked for: the model from the read model, the new version as its
    projection handed it over (no query)."""

    model_id: strawberry.Private[str]
    version_id: strawberry.Private[str]

    @strawberry.field
    async def model(self, info: Info) -> ModelType:
        row = await info.context.loaders.models.load(self.model_id)
        assert row is not None  # read-your-writes: the projection has it
        return ModelType.from_row(row)

    @strawberry.field
    async def version(self, info: Info) -> ModelVersionType:
        container = info.context.container
        # The row as its projection just wrote it, or (another process applied the events,
        # or the version changed since) as the read model has it now.
        row = container.created_versions.take(self.version_id)
        if row is None:
            row = (await get_versions(container.db, [self.version_id]))[self.version_id]
        return ModelVersionType.from_row(row)


@strawberry.type
class ModelPayload:
    model: ModelType


@strawberry.type
class VersionPayload:
    version: ModelVersionType


@strawberry.type
class DeleteModelSuccess:
    deleted_model_id: strawberry.ID
    deleted_versions: int


@strawberry.type
class DeleteVersionSuccess:
    deleted_version_id: strawberry.ID
    model: ModelType | None


@strawberry.type(
    description="The files arrived but the package was refused: the version is FAILED with"
    " the reason (every problem found), and none of its files were kept."
)
class ImportFailed:
    message: str
    model: ModelType
    version: ModelVersionType


ImportModelResult = Annotated[
    ImportSuccess
    | ImportFailed
    | NameTaken
    | NotFound
    | InvalidState
    | SourceUnavailable
    | ValidationError,
    strawberry.union("ImportModelResult"),
]
ImportVersionResult = Annotated[
    ImportSuccess
    | ImportFailed
    | NotFound
    | AlreadyDeleted
    | InvalidState
    | SourceUnavailable
    | ValidationError,
    strawberry.union("ImportVersionResult"),
]
ReuploadResult = Annotated[
    VersionPayload | NotFound | AlreadyDeleted | InvalidState | SourceUnavailable | ValidationError,
    strawberry.union("ReuploadResult"),
]
ModelResult = Annotated[
    ModelPayload | NotFound | AlreadyDeleted | ValidationError, strawberry.union("ModelResult")
]
DeleteModelResult = Annotated[
    DeleteModelSuccess | NotFound | AlreadyDeleted | InUse | ValidationError,
    strawberry.union("DeleteModelResult"),
]
DeleteVersionResult = Annotated[
    DeleteVersionSuccess | NotFound | AlreadyDeleted | InUse | ValidationError,
    strawberry.union("DeleteVersionResult"),
]


@strawberry.type(description="A URL that downloads without a token until it expires.")
class DownloadLink:
    url: str
    expires_at: datetime


DownloadLinkResult = Annotated[
    DownloadLink | NotFound | ValidationError, strawberry.union("DownloadLinkResult")
]
