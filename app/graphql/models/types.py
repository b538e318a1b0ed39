"""GraphQL types of the repository: models, versions, tags, metrics."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, TypeAlias
from uuid import UUID

import strawberry

from app.graphql.context import Info
from app.graphql.pagination import Connection, check_first, connection, encode_cursor, int_cursor
from domain.formats import ModelFormat as DomainFormat
from domain.model import Model as ModelAggregate
from domain.model import ModelList as DomainList
from domain.version import ModelVersion as VersionAggregate
from domain.version import VersionStatus as DomainStatus
from domain.version import version_id
from projections.models import ModelRow
from projections.versions import VersionRow, list_versions

# strawberry.enum registers the domain enums in place; the aliases name them here.
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


@strawberry.input
class TagInput:
    key: str
    value: str


@strawberry.type
class Metric:
    name: str
    value: float


@strawberry.input
class MetricInput:
    name: str
    value: float


@strawberry.type
class VersionSource:
    kind: str
    uri: str


def _tags(tags: dict[str, str]) -> list[Tag]:
    return [Tag(key=k, value=v) for k, v in sorted(tags.items())]


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
    as_of: datetime | None = strawberry.field(
        description="Set when this is the state at a past moment (asOf queries)."
    )

    @strawberry.field(description='The version label, "V1", "V2", ...')
    def name(self) -> str:
        return f"V{self.number}"

    @strawberry.field
    async def model(
        self, info: Info
    ) -> Annotated[ModelType, strawberry.lazy("app.graphql.models.types")] | None:
        if self.as_of is not None:
            model = await info.context.container.models.model_as_of(self.model_id, self.as_of)
            return None if model is None else ModelType.from_aggregate(model, self.as_of)
        row = await info.context.loaders.models.load(str(self.model_id))
        return None if row is None else ModelType.from_row(row)

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
            source=VersionSource(kind=row.source.get("kind", ""), uri=row.source.get("uri", "")),
            metrics=[Metric(name=k, value=v) for k, v in sorted(row.metrics.items())],
            created_at=row.created_at,
            created_by=row.created_by,
            as_of=None,
        )

    @classmethod
    def from_aggregate(
        cls, version: VersionAggregate, as_of: datetime | None = None
    ) -> ModelVersionType:
        return cls(
            id=strawberry.ID(str(version.id)),
            model_id=strawberry.ID(str(version.model_id)),
            number=version.number,
            format=DomainFormat(version.model_format),
            framework=version.framework,
            runtime=version.runtime,
            description=version.description,
            status=DomainStatus(version.status),
            source=VersionSource(kind=version.source["kind"], uri=version.source["uri"]),
            metrics=[Metric(name=k, value=v) for k, v in sorted(version.metrics.items())],
            created_at=version.created_on,
            created_by=None,
            as_of=as_of,
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

    @strawberry.field(description="How many versions exist (not deleted).")
    async def version_count(self, info: Info) -> int:
        if self._version_count is not None:
            return self._version_count
        return len(await self._versions_as_of(info))

    @strawberry.field
    async def latest_version(self, info: Info) -> ModelVersionType | None:
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
        rows, has_next = await list_versions(
            info.context.container.db, str(self.id), first=first, after=cursor
        )
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
    def from_row(cls, row: ModelRow) -> ModelType:
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
