"""Mutations on models and versions. Expected failures are union members.

`versionDownloadLink`: a short-lived signed URL for a version's package or one file, which
a browser can simply navigate to (no token to send, nothing held in page memory)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

import strawberry
from strawberry.types.field import StrawberryField

from app.graphql.context import Info
from app.graphql.models.inputs import FilesInput, ImportModelInput, TagInput, VersionInput
from app.graphql.models.payloads import (
    DeleteModelResult,
    DeleteModelSuccess,
    DeleteVersionResult,
    DeleteVersionSuccess,
    DownloadLink,
    DownloadLinkResult,
    ImportFailed,
    ImportModelResult,
    ImportSuccess,
    ImportVersionResult,
    ModelPayload,
    ModelResult,
    ReuploadResult,
    VersionPayload,
)
from app.graphql.models.types import ModelType, ModelVersionType
from app.graphql.permissions import IsEditor, IsViewer
from app.graphql.urls import base_url
from app.http.links import LINK_SECONDS, PACKAGE, link_key, signed_query
from app.services.ids import parse_id
from app.services.imports import ImportFailed as FilesRefused
from domain.errors import NotFound as NotFoundError
from domain.errors import ValidationError as DomainValidationError
from domain.model import ModelList as DomainList
from projections.models import get_models
from projections.versions import file_sets, files, get_versions

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


@strawberry.type
class DownloadLinkMutations:
    @strawberry.mutation(
        permission_classes=[IsViewer],
        description=f"A link to the version's files as one zip (or to one file with path),"
        f" of the active file set unless revision is given; valid {LINK_SECONDS} seconds.",
    )
    async def version_download_link(
        self,
        info: Info,
        version_id: strawberry.ID,
        path: str | None = None,
        revision: int | None = None,
    ) -> DownloadLinkResult:
        url, expires = await _mint(info, str(version_id), path, revision)
        return DownloadLink(url=url, expires_at=datetime.fromtimestamp(expires, UTC))


async def _mint(
    info: Info, version_ref: str, path: str | None, revision: int | None
) -> tuple[str, int]:
    container = info.context.container
    version_id = str(parse_id(version_ref, "versionId"))
    version = (await get_versions(container.db, [version_id])).get(version_id)
    if version is None:
        raise NotFoundError("version", version_id)
    chosen = version.active_revision if revision is None else revision
    if chosen is None:
        raise DomainValidationError("versionId", f"V{version.number} has no files")
    if chosen not in {s.revision for s in await file_sets(container.db, version_id)}:
        raise NotFoundError(f"file set of V{version.number}", str(chosen))
    target = PACKAGE
    if path is not None:
        if path not in {f.path for f in await files(container.db, version_id, chosen)}:
            raise NotFoundError(f"file of V{version.number}", repr(path[:200]))
        target = f"files/{path}"
    key = link_key(container.settings)
    query, expires = signed_query(key, version_id, target, chosen)
    route = PACKAGE if path is None else f"files/{quote(path)}"
    return f"{base_url(info)}/v1/versions/{version_id}/{route}?{query}", expires
