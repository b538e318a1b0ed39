"""GraphQL inputs for importing models, versions and their files."""

from __future__ import annotations

from enum import Enum
from typing import cast

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from app.graphql.models.types import ModelFormat, ModelList
from app.services.imports import Source, TaskSource, UploadSource, UriSource
from app.services.models import VersionSpec
from domain.errors import ValidationError as DomainValidationError
from domain.model import ModelList as DomainList
from domain.rules import metric_pairs


@strawberry.input
class TagInput:
    key: str
    value: str


@strawberry.input
class MetricInput:
    name: str
    value: float


@strawberry.enum
class ImportMode(Enum):
    COPY = "COPY"
    MOVE = "MOVE"


@strawberry.input(
    description="Where a version's files come from: exactly one of upload (a file or a"
    " .zip/.tar.gz package, as a GraphQL multipart request), uri (s3://bucket/prefix or"
    " cos://bucket/prefix) or trainingTaskId (its output, with its framework and latest"
    " metrics filled in). mode MOVE deletes the source after a verified copy."
)
class FilesInput:
    upload: Upload | None = None
    uri: str | None = None
    training_task_id: strawberry.ID | None = None
    mode: ImportMode = ImportMode.COPY

    def to_source(self) -> Source:
        given = [x for x in (self.upload, self.uri, self.training_task_id) if x is not None]
        if len(given) != 1:
            raise DomainValidationError(
                "files", "give exactly one of upload, uri and trainingTaskId"
            )
        move = self.mode == ImportMode.MOVE
        if self.upload is not None:
            if move:
                raise DomainValidationError("files", "mode MOVE is for uri and trainingTaskId")
            upload = cast(UploadFile, self.upload)  # what the Starlette integration passes
            return UploadSource(filename=upload.filename or "", read=upload.read)
        if self.uri is not None:
            return UriSource(uri=self.uri, move=move)
        return TaskSource(task_id=str(self.training_task_id), move=move)


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
    source_uri: str | None = strawberry.field(
        default=None,
        description="Only for a version registered without files: where its model lives.",
    )
    description: str | None = None
    files: FilesInput | None = None

    def to_source(self) -> Source | None:
        if self.files is None:
            return None
        if self.source_uri:
            raise DomainValidationError(
                "sourceUri", "is for versions registered without files; the files say it"
            )
        return self.files.to_source()

    def to_spec(self) -> VersionSpec:
        metrics = metric_pairs([(m.name, m.value) for m in self.metrics or ()])
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
