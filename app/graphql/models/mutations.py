"""Mutations on models and versions. Expected failures are union members."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

import strawberry
from strawberry.types.field import StrawberryField

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
from app.graphql.models.inputs import FilesInput, ImportModelInput, VersionInput
from app.graphql.models.types import ModelType, ModelVersionType, TagInput
from app.graphql.permissions import IsEditor
from app.services.imports import ImportFailed as FilesRefused
from domain.model import ModelList as DomainList
from projections.models import get_models
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
Force = Annotated[
    bool,
    strawberry.argument(
        description="Delete even when services deploy it: they stop deploying it first."
    ),
]
Reason = Annotated[
    str | None, strawberry.argument(description="Why; recorded with the event in the history.")
]


async def _model(info: Info, model_id: str) -> ModelType | None:
    rows = await get_models(info.context.container.db, [model_id])
    row = rows.get(model_id)
    return None if row is None else ModelType.from_row(row)


async def _import_failed(info: Info, failed: FilesRefused) -> ImportFailed:
    version_id = str(failed.version.id)
    model = await _model(info, str(failed.version.model_id))
    version = (await get_versions(info.context.container.db, [version_id]))[version_id]
    assert model is not None  # read-your-writes: the projection has it
    return ImportFailed(
        message=str(failed), model=model, version=ModelVersionType.from_row(version)
    )


class ImportFailedHandler(strawberry.ExceptionHandler[FilesRefused, ImportFailed]):
    """A refused package as the ImportFailed member (before OtherDomainErrorHandler, which
    would answer it as a ValidationError)."""

    def handle(
        self, exception: FilesRefused, *, field: StrawberryField, info: Info
    ) -> Awaitable[ImportFailed]:
        return _import_failed(info, exception)


def _tag_pairs(tags: list[TagInput] | None) -> list[tuple[object, object]]:
    return [(t.key, t.value) for t in tags or ()]


@strawberry.type
class ModelMutations:
    @strawberry.mutation(
        permission_classes=[IsEditor], description="Create a model and its first version (V1)."
    )
    async def import_model(
        self, info: Info, input: ImportModelInput, reason: Reason = None
    ) -> ImportModelResult:
        container = info.context.container
        model_list, tags = DomainList(input.model_list), _tag_pairs(input.tags)
        meta = info.context.meta(reason)
        spec, source = input.version.to_spec(), input.version.to_source()
        if source is None:
            model, version = await container.models.import_model(
                input.name,
                spec,
                model_list=model_list,
                description=input.description,
                tags=tags,
                meta=meta,
            )
        else:
            model, version = await container.imports.import_model(
                input.name,
                spec,
                source,
                model_list=model_list,
                description=input.description,
                tags=tags,
                meta=meta,
            )
        return ImportSuccess(model_id=str(model.id), version_id=str(version.id))

    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="Add a version numbered highest-ever + 1 (numbers are never reused).",
    )
    async def import_model_version(
        self, info: Info, model_id: strawberry.ID, version: VersionInput, reason: Reason = None
    ) -> ImportVersionResult:
        container = info.context.container
        meta = info.context.meta(reason)
        spec, source = version.to_spec(), version.to_source()
        if source is None:
            model, created = await container.models.import_version(model_id, spec, meta=meta)
        else:
            model, created = await container.imports.import_version(
                model_id, spec, source, meta=meta
            )
        return ImportSuccess(model_id=str(model.id), version_id=str(created.id))

    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="New files for a READY version: a PENDING file set that the next"
        " service update makes ACTIVE. A refused package records nothing.",
    )
    async def reupload_model_version_files(
        self, info: Info, version_id: strawberry.ID, files: FilesInput, reason: Reason = None
    ) -> ReuploadResult:
        version = await info.context.container.imports.reupload(
            version_id, files.to_source(), meta=info.context.meta(reason)
        )
        row = (await get_versions(info.context.container.db, [str(version.id)]))[str(version.id)]
        return VersionPayload(version=ModelVersionType.from_row(row))

    @strawberry.mutation(
        permission_classes=[IsEditor], description="Replace the model's tags with these."
    )
    async def edit_model_tags(
        self, info: Info, model_id: strawberry.ID, tags: list[TagInput], reason: Reason = None
    ) -> ModelResult:
        model = await info.context.container.models.edit_tags(
            model_id, _tag_pairs(tags), meta=info.context.meta(reason)
        )
        found = await _model(info, str(model.id))
        assert found is not None
        return ModelPayload(model=found)

    @strawberry.mutation(permission_classes=[IsEditor])
    async def update_model_description(
        self, info: Info, model_id: strawberry.ID, description: str, reason: Reason = None
    ) -> ModelResult:
        model = await info.context.container.models.update_description(
            model_id, description, meta=info.context.meta(reason)
        )
        found = await _model(info, str(model.id))
        assert found is not None
        return ModelPayload(model=found)

    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="Delete a model and all its versions; its name becomes free again.",
    )
    async def delete_model(
        self,
        info: Info,
        model_id: strawberry.ID,
        reason: Reason = None,
        force: Force = False,
    ) -> DeleteModelResult:
        model, count = await info.context.container.models.delete_model(
            model_id, meta=info.context.meta(reason), force=force
        )
        return DeleteModelSuccess(
            deleted_model_id=strawberry.ID(str(model.id)), deleted_versions=count
        )

    @strawberry.mutation(permission_classes=[IsEditor])
    async def delete_model_version(
        self,
        info: Info,
        version_id: strawberry.ID,
        reason: Reason = None,
        force: Force = False,
    ) -> DeleteVersionResult:
        version = await info.context.container.models.delete_version(
            version_id, meta=info.context.meta(reason), force=force
        )
        return DeleteVersionSuccess(
            deleted_version_id=strawberry.ID(str(version.id)),
            model=await _model(info, str(version.model_id)),
        )
