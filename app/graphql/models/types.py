"""GraphQL types of the repository: models, versions, tags, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, cast
from uuid import UUID

import strawberry

from app.graphql.context import Info
from app.graphql.loaders import PageKey
from app.graphql.optimize import types as optimize_types
from app.graphql.pagination import Connection, check_first, connection, encode_cursor, int_cursor
from app.graphql.scalars import BigInt
from app.graphql.urls import file_url, package_url, storage_uri
from domain.formats import ModelFormat as DomainFormat
from domain.model import Model as ModelAggregate
from domain.model import ModelList as DomainList
from domain.version import ModelVersion as VersionAggregate
from domain.version import VersionStatus as DomainStatus
from domain.version import version_id
from projections.models import ModelRow
from projections.versions import VersionRow
from projections.versions import files as version_files

# strawberry.enum registers the domain enums in place; the aliases name them here.
if TYPE_CHECKING:
    from app.graphql.optimize.types import OptimizationJob, OptimizationReport
    from app.graphql.services.types import Service

UNREAD = object()  # ModelType._latest: the list resolver did not read it
strawberry.enum(DomainFormat, name="ModelFormat")
strawberry.enum(DomainList, name="ModelList")
strawberry.enum(DomainStatus, name="VersionStatus")
ModelFormat: TypeAlias = DomainFormat
ModelList: TypeAlias = DomainList
VersionStatus: TypeAlias = DomainStatus


@strawberry.type
class Tag:
    key: str
    value: str


@strawberry.type
class Metric:
    name: str
    value: float


@strawberry.type
class VersionSource:
    kind: str = strawberry.field(
        description="metadata (registered without files), upload, object_storage or training_task"
    )
    uri: str
    mode: str | None = strawberry.field(default=None, description="copy or move")
    training_task_id: strawberry.ID | None = None

    @classmethod
    def from_dict(cls, source: dict[str, str]) -> VersionSource:
        task = source.get("task_id")
        return cls(
            kind=source.get("kind", ""),
            uri=source.get("uri", ""),
            mode=source.get("mode"),
            training_task_id=strawberry.ID(task) if task else None,
        )


def _tags(tags: dict[str, str]) -> list[Tag]:
    return [Tag(key=k, value=v) for k, v in sorted(tags.items())]


@strawberry.enum
class FileSetState(Enum):
    ACTIVE = "ACTIVE"
    PENDING = "PENDING"
    INACTIVE = "INACTIVE"


@strawberry.type(description="One file of a version's package.")
class PackageFile:
    path: str
    size: BigInt
    sha256: str
    download_url: str = strawberry.field(
        description="A presigned URL on S3 storage; otherwise this server's file route"
        " (send the Authorization header)."
    )


@strawberry.type(
    description="One revision of a version's files. Re-uploads add PENDING revisions that"
    " a service update makes ACTIVE."
)
class FileSet:
    revision: int
    state: FileSetState
    size: BigInt
    file_count: int
    storage_uri: str
    created_at: datetime | None


def state_of(revision: int, active: int | None, pending: int | None) -> FileSetState:
    if revision == active:
        return FileSetState.ACTIVE
    if revision == pending:
        return FileSetState.PENDING
    return FileSetState.INACTIVE


@strawberry.type(name="ModelVersion")
class ModelVersionType:
    id: strawberry.ID
    model_id: strawberry.ID
    number: int
    format: ModelFormat
    framework: str
    runtime: str
    description: str
    status: VersionStatus
    source: VersionSource
    metrics: list[Metric]
    created_at: datetime
    created_by: str | None
    failure: str = strawberry.field(description="Why the import failed (FAILED versions).")
    size: BigInt | None = strawberry.field(description="Bytes in the active file set.")
    file_count: int
    active_revision: int | None
    pending_revision: int | None
    as_of: datetime | None = strawberry.field(
        description="Set when this is the state at a past moment (asOf queries)."
    )
    _storage_prefix: strawberry.Private[str | None]
    _file_sets: strawberry.Private[list[dict[str, Any]] | None]  # asOf: from the log

    @strawberry.field(description='The version label, "V1", "V2", ...')
    def name(self) -> str:
        return f"V{self.number}"

    @strawberry.field(description="The services that deploy this version.")
    async def associated_services(
        self, info: Info
    ) -> list[Annotated[Service, strawberry.lazy("app.graphql.services.types")]]:
        from app.graphql.services.types import Service

        used = await info.context.loaders.services_of_versions.load(str(self.id))
        return [Service.from_row(r) for r in used]

    @strawberry.field(description="Where the active files are stored.")
    def storage_uri(self, info: Info) -> str | None:
        return None if self._storage_prefix is None else storage_uri(info, self._storage_prefix)

    @strawberry.field(description="The active files as one streamed zip (send Authorization).")
    def download_url(self, info: Info) -> str | None:
        return None if self.active_revision is None else package_url(info, str(self.id))

    @strawberry.field(description="Every file-set revision, oldest first.")
    async def file_sets(self, info: Info) -> list[FileSet]:
        if self._file_sets is not None:
            from app.graphql.models.asof import file_sets_from_events

            return file_sets_from_events(
                info, self._file_sets, self.active_revision, self.pending_revision
            )
        rows = await info.context.loaders.file_sets.load(str(self.id))
        return [
            FileSet(
                revision=r.revision,
                state=state_of(r.revision, self.active_revision, self.pending_revision),
                size=BigInt(r.size),
                file_count=r.file_count,
                storage_uri=storage_uri(info, r.prefix),
                created_at=r.created_at,
            )
            for r in rows
        ]

    @strawberry.field(description="The manifest of a file set (the active one by default).")
    async def files(self, info: Info, revision: int | None = None) -> list[PackageFile]:
        wanted = self.active_revision if revision is None else revision
        if wanted is None:
            return []
        if self._file_sets is not None:
            chosen = [s for s in self._file_sets if s["revision"] == wanted]
            prefix = chosen[0]["prefix"] if chosen else ""
            entries = [(f["path"], f["size"], f["sha256"]) for s in chosen for f in s["files"]]
        else:
            loaded = await info.context.loaders.file_sets.load(str(self.id))
            sets = {r.revision: r.prefix for r in loaded}
            prefix = sets.get(wanted, "")
            db = info.context.container.db
            rows = await version_files(db, str(self.id), wanted) if wanted in sets else []
            entries = [(r.path, r.size, r.sha256) for r in rows]
        return [
            PackageFile(
                path=path,
                size=BigInt(size),
                sha256=sha,
                download_url=await file_url(info, str(self.id), prefix, wanted, path),
            )
            for path, size, sha in entries
        ]

    @strawberry.field
    async def model(
        self, info: Info
    ) -> Annotated[ModelType, strawberry.lazy("app.graphql.models.types")] | None:
        if self.as_of is not None:
            model = await info.context.container.models.model_as_of(self.model_id, self.as_of)
            return None if model is None else ModelType.from_aggregate(model, self.as_of)
        row = await info.context.loaders.models.load(str(self.model_id))
        return None if row is None else ModelType.from_row(row)

    @strawberry.field(description="The version this one was optimized from.")
    async def optimized_from(self, info: Info) -> ModelVersionType | None:
        return await optimize_types.optimized_from(info, str(self.id))

    @strawberry.field(description="Versions optimized from this one, oldest first.")
    async def optimizations(self, info: Info) -> list[ModelVersionType]:
        return await optimize_types.optimizations(info, str(self.id))

    @strawberry.field(description="How this optimized version compares with its source.")
    async def optimization_report(
        self, info: Info
    ) -> Annotated[OptimizationReport, strawberry.lazy("app.graphql.optimize.types")] | None:
        return await optimize_types.report_of(info, str(self.id))

    @strawberry.field(description="The job that made this optimized version.")
    async def optimization_job(
        self, info: Info
    ) -> Annotated[OptimizationJob, strawberry.lazy("app.graphql.optimize.types")] | None:
        return await optimize_types.job_of(info, str(self.id))

    @classmethod
    def from_row(cls, row: VersionRow) -> ModelVersionType:
        return cls(
            id=strawberry.ID(row.id),
            model_id=strawberry.ID(row.model_id),
            number=row.number,
            format=DomainFormat(row.model_format),
            framework=row.framework,
            runtime=row.runtime,
            description=row.description,
            status=DomainStatus(row.status),
            source=VersionSource.from_dict(row.source),
            metrics=[Metric(name=k, value=v) for k, v in sorted(row.metrics.items())],
            created_at=row.created_at,
            created_by=row.created_by,
            failure=row.failure,
            size=None if row.size is None else BigInt(row.size),
            file_count=row.file_count,
            active_revision=row.active_revision,
            pending_revision=row.pending_revision,
            as_of=None,
            _storage_prefix=row.storage_prefix,
            _file_sets=None,
        )

    @classmethod
    def from_aggregate(
        cls, version: VersionAggregate, as_of: datetime | None = None
    ) -> ModelVersionType:
        active = version.file_set(version.active_revision)
        return cls(
            id=strawberry.ID(str(version.id)),
            model_id=strawberry.ID(str(version.model_id)),
            number=version.number,
            format=DomainFormat(version.model_format),
            framework=version.framework,
            runtime=version.runtime,
            description=version.description,
            status=DomainStatus(version.status),
            source=VersionSource.from_dict(version.source),
            metrics=[Metric(name=k, value=v) for k, v in sorted(version.metrics.items())],
            created_at=version.created_on,
            created_by=None,
            failure=version.failure,
            size=BigInt(active["size"]) if active else None,
            file_count=len(active["files"]) if active else 0,
            active_revision=version.active_revision,
            pending_revision=version.pending_revision,
            as_of=as_of,
            _storage_prefix=active["prefix"] if active else None,
            _file_sets=list(version.file_sets),
        )


@strawberry.type(name="Model")
class ModelType:
    id: strawberry.ID
    name: str
    model_list: ModelList = strawberry.field(name="list")
    description: str
    tags: list[Tag]
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    last_version_number: int = strawberry.field(
        description="The highest version number ever allocated (numbers are never reused)."
    )
    deleted: bool = strawberry.field(description="Only ever true in asOf views.")
    as_of: datetime | None
    _version_count: strawberry.Private[int | None]
    # The latest version's row when the list resolver read it for the whole page (a
    # VersionRow, or None for a model without one); UNREAD otherwise.
    _latest: strawberry.Private[VersionRow | object | None] = UNREAD

    # These two answer without a coroutine when the value is at hand: graphql-core makes a
    # task for every awaitable field of every item of a list, which is most of the cost of
    # `models(first: 100)`.
    @strawberry.field(graphql_type=int, description="How many versions exist (not deleted).")
    def version_count(self, info: Info) -> int | Awaitable[int]:
        if self._version_count is not None:
            return self._version_count
        return self._count_as_of(info)

    @strawberry.field(graphql_type=ModelVersionType | None)
    def latest_version(
        self, info: Info
    ) -> ModelVersionType | Awaitable[ModelVersionType | None] | None:
        if self._latest is not UNREAD:
            row = cast(VersionRow | None, self._latest)
            return None if row is None else ModelVersionType.from_row(row)
        return self._load_latest(info)

    async def _count_as_of(self, info: Info) -> int:
        return len(await self._versions_as_of(info))

    async def _load_latest(self, info: Info) -> ModelVersionType | None:
        if self.as_of is not None:
            versions = await self._versions_as_of(info)
            return versions[-1] if versions else None
        row = await info.context.loaders.latest_versions.load(str(self.id))
        return None if row is None else ModelVersionType.from_row(row)

    @strawberry.field(description="Versions, newest first.")
    async def versions(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[ModelVersionType]:
        check_first(first)
        cursor = int_cursor(after)
        if cursor is not None:
            cursor = min(cursor, 2**31 - 1)
        if self.as_of is not None:
            newest_first = list(reversed(await self._versions_as_of(info)))
            if cursor is not None:
                newest_first = [v for v in newest_first if v.number < cursor]
            page = newest_first[:first]
            return connection(
                [(encode_cursor(v.number), v) for v in page], len(newest_first) > first
            )
        wanted = PageKey(str(self.id), first, cursor)
        rows, has_next = await info.context.loaders.versions_of_models.load(wanted)
        return connection(
            [(encode_cursor(r.number), ModelVersionType.from_row(r)) for r in rows], has_next
        )

    async def _versions_as_of(self, info: Info) -> list[ModelVersionType]:
        """Live versions at ``as_of``, oldest first (replayed from the log)."""
        service = info.context.container.models
        as_of = self.as_of
        if as_of is None:
            return []
        found = await asyncio.gather(
            *(
                service.version_as_of(version_id(self.id_uuid, n), as_of)
                for n in range(1, (self.last_version_number or 0) + 1)
            )
        )
        return [
            ModelVersionType.from_aggregate(v, as_of)
            for v in found
            if v is not None and not v.deleted
        ]

    @property
    def id_uuid(self) -> UUID:
        return UUID(str(self.id))

    @classmethod
    def from_row(cls, row: ModelRow, latest: VersionRow | object | None = UNREAD) -> ModelType:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            model_list=DomainList(row.model_list),
            description=row.description,
            tags=_tags(row.tags),
            created_at=row.created_at,
            updated_at=row.updated_at,
            created_by=row.created_by,
            last_version_number=row.last_version_number,
            deleted=False,
            as_of=None,
            _version_count=row.version_count,
            _latest=latest,
        )

    @classmethod
    def from_aggregate(cls, model: ModelAggregate, as_of: datetime | None = None) -> ModelType:
        return cls(
            id=strawberry.ID(str(model.id)),
            name=model.name,
            model_list=DomainList(model.model_list),
            description=model.description,
            tags=_tags(model.tags),
            created_at=model.created_on,
            updated_at=model.modified_on,
            created_by=None,
            last_version_number=model.last_version_number,
            deleted=model.deleted,
            as_of=as_of,
            _version_count=None,
        )
