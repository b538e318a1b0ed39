"""Mutations on models and versions. Expected failures are union members."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.graphql.context import Info
from app.graphql.errors import AlreadyDeleted, NameTaken, NotFound, ValidationError, to_error
from app.graphql.models.types import (
    MetricInput,
    ModelFormat,
    ModelList,
    ModelType,
    ModelVersionType,
    TagInput,
)
from app.graphql.permissions import IsEditor
from app.services.models import VersionSpec
from domain.errors import DomainError
from domain.errors import ValidationError as DomainValidationError
from domain.model import ModelList as DomainList
from projections.models import get_models
from projections.versions import get_versions


@strawberry.input
class VersionInput:
    format: ModelFormat
    framework: str | None = None
    runtime: str | None = strawberry.field(
        default=None,
        description="The format's built-in runtime by default; 'custom' for a"
        " model_service.py script; 'image:<reference>' for a container image.",
    )
    metrics: list[MetricInput] | None = None
    source_uri: str | None = None
    description: str | None = None

    def to_spec(self) -> VersionSpec:
        metrics: dict[str, float] = {}
        for metric in self.metrics or ():
            if metric.name in metrics:
                raise DomainValidationError("metrics", f"metric {metric.name!r} is given twice")
            metrics[metric.name] = metric.value
        return VersionSpec(
            model_format=self.format.value,
            framework=self.framework,
            runtime=self.runtime,
            metrics=metrics,
            source_uri=self.source_uri,
            description=self.description,
        )


@strawberry.input
class ImportModelInput:
    name: str
    version: VersionInput
    model_list: ModelList = strawberry.field(name="list", default=DomainList.ORIGINAL)
    description: str | None = None
    tags: list[TagInput] | None = None


@strawberry.type
class ImportSuccess:
    model: ModelType
    version: ModelVersionType


@strawberry.type
class ModelPayload:
    model: ModelType


@strawberry.type
class DeleteModelSuccess:
    deleted_model_id: strawberry.ID
    deleted_versions: int


@strawberry.type
class DeleteVersionSuccess:
    deleted_version_id: strawberry.ID
    model: ModelType | None


ImportModelResult = Annotated[
    ImportSuccess | NameTaken | ValidationError, strawberry.union("ImportModelResult")
]
ImportVersionResult = Annotated[
    ImportSuccess | NotFound | AlreadyDeleted | ValidationError,
    strawberry.union("ImportVersionResult"),
]
ModelResult = Annotated[
    ModelPayload | NotFound | AlreadyDeleted | ValidationError, strawberry.union("ModelResult")
]
DeleteModelResult = Annotated[
    DeleteModelSuccess | NotFound | AlreadyDeleted | ValidationError,
    strawberry.union("DeleteModelResult"),
]
DeleteVersionResult = Annotated[
    DeleteVersionSuccess | NotFound | AlreadyDeleted | ValidationError,
    strawberry.union("DeleteVersionResult"),
]

Reason = Annotated[
    str | None, strawberry.argument(description="Why; recorded with the event in the history.")
]


async def _model(info: Info, model_id: str) -> ModelType | None:
    rows = await get_models(info.context.container.db, [model_id])
    row = rows.get(model_id)
    return None if row is None else ModelType.from_row(row)


async def _import_success(info: Info, model_id: str, version_id: str) -> ImportSuccess:
    model = await _model(info, model_id)
    version = (await get_versions(info.context.container.db, [version_id]))[version_id]
    assert model is not None  # read-your-writes: the projection has it
    return ImportSuccess(model=model, version=ModelVersionType.from_row(version))


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
        try:
            model, version = await info.context.container.models.import_model(
                input.name,
                input.version.to_spec(),
                model_list=DomainList(input.model_list),
                description=input.description,
                tags=_tag_pairs(input.tags),
                meta=info.context.meta(reason),
            )
        except DomainError as exc:
            return to_error(exc)  # type: ignore[return-value]
        return await _import_success(info, str(model.id), str(version.id))

    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="Add a version numbered highest-ever + 1 (numbers are never reused).",
    )
    async def import_model_version(
        self, info: Info, model_id: strawberry.ID, version: VersionInput, reason: Reason = None
    ) -> ImportVersionResult:
        try:
            model, created = await info.context.container.models.import_version(
                model_id, version.to_spec(), meta=info.context.meta(reason)
            )
        except DomainError as exc:
            return to_error(exc)  # type: ignore[return-value]
        return await _import_success(info, str(model.id), str(created.id))

    @strawberry.mutation(
        permission_classes=[IsEditor], description="Replace the model's tags with these."
    )
    async def edit_model_tags(
        self, info: Info, model_id: strawberry.ID, tags: list[TagInput], reason: Reason = None
    ) -> ModelResult:
        try:
            model = await info.context.container.models.edit_tags(
                model_id, _tag_pairs(tags), meta=info.context.meta(reason)
            )
        except DomainError as exc:
            return to_error(exc)  # type: ignore[return-value]
        found = await _model(info, str(model.id))
        assert found is not None
        return ModelPayload(model=found)

    @strawberry.mutation(permission_classes=[IsEditor])
    async def update_model_description(
        self, info: Info, model_id: strawberry.ID, description: str, reason: Reason = None
    ) -> ModelResult:
        try:
            model = await info.context.container.models.update_description(
                model_id, description, meta=info.context.meta(reason)
            )
        except DomainError as exc:
            return to_error(exc)  # type: ignore[return-value]
        found = await _model(info, str(model.id))
        assert found is not None
        return ModelPayload(model=found)

    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="Delete a model and all its versions; its name becomes free again.",
    )
    async def delete_model(
        self, info: Info, model_id: strawberry.ID, reason: Reason = None
    ) -> DeleteModelResult:
        try:
            model, count = await info.context.container.models.delete_model(
                model_id, meta=info.context.meta(reason)
            )
        except DomainError as exc:
            return to_error(exc)  # type: ignore[return-value]
        return DeleteModelSuccess(
            deleted_model_id=strawberry.ID(str(model.id)), deleted_versions=count
        )

    @strawberry.mutation(permission_classes=[IsEditor])
    async def delete_model_version(
        self, info: Info, version_id: strawberry.ID, reason: Reason = None
    ) -> DeleteVersionResult:
        try:
            version = await info.context.container.models.delete_version(
                version_id, meta=info.context.meta(reason)
            )
        except DomainError as exc:
            return to_error(exc)  # type: ignore[return-value]
        return DeleteVersionSuccess(
            deleted_version_id=strawberry.ID(str(version.id)),
            model=await _model(info, str(version.model_id)),
        )
