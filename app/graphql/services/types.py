"""GraphQL types of prediction services. A deployed version's inputs are as its runtime
declared them when this process's data plane loaded it: the API never loads a model just to
answer a query, so a version not loaded here (stopped, still deploying, failed, served by
another process) has none."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeAlias

import strawberry

from app.graphql.context import Info
from app.graphql.permissions import IsEditor
from app.graphql.urls import base_url
from app.packages.service_config import read_service_config
from app.serving.plane import DataPlane
from app.serving.runtimes.base import TensorSpec
from domain.service import ServiceStatus as DomainStatus
from projections.services import DeploymentRow, RevisionRow, ServiceRow

if TYPE_CHECKING:
    from app.graphql.models.types import ModelVersionType

strawberry.enum(DomainStatus, name="ServiceStatus")
ServiceStatus: TypeAlias = DomainStatus

ModelVersionRef = Annotated["ModelVersionType", strawberry.lazy("app.graphql.models.types")]
IMAGE_RANK = 4  # batch, height, width and channels (in either order)


@strawberry.type(description="One input of a loaded model.")
class TensorSignature:
    name: str
    datatype: str = strawberry.field(description="An Open Inference Protocol datatype: FP32, ...")
    shape: list[int] = strawberry.field(description="Including the batch axis; -1 = any size.")
    image: bool = strawberry.field(
        description="Takes images: declared with type image in a custom runtime's config.json,"
        " or a 4-D tensor (batch, height, width, channels in some order)."
    )


async def loaded_inputs(
    plane: DataPlane, version_id: str, file_revision: int | None
) -> list[TensorSignature] | None:
    """The inputs of this file set of the version, if any service here has it loaded."""
    for state in plane.services.values():
        for loaded in state.loaded.values():
            version, revision, _ = loaded.key
            if version == version_id and revision == file_revision and loaded.runtime.inputs:
                runtime = loaded.runtime
                images = await asyncio.to_thread(_declared_images, runtime.package)
                return [_signature(spec, images) for spec in runtime.inputs]
    return None


def _signature(spec: TensorSpec, declared_images: set[str]) -> TensorSignature:
    image = spec.name in declared_images or len(spec.shape) == IMAGE_RANK
    return TensorSignature(
        name=spec.name, datatype=spec.datatype, shape=list(spec.shape), image=image
    )


def _declared_images(package: Path) -> set[str]:
    """Names of the inputs a custom package's config.json declares as images (the runtime
    sees them as BYTES, so the config is the only place that says so)."""
    path = package / "config.json"
    if not path.is_file():
        return set()
    document, problems = read_service_config(path)
    if problems:
        return set()  # the runtime refused it, so nothing of it is loaded
    return {t["name"] for t in document["inputs"] if t["type"] == "image"}


@strawberry.type
class Deployment:
    version_id: strawberry.ID
    model_id: strawberry.ID
    version_number: int
    instances: int
    cpu: float
    memory_mb: int
    gpus: int
    runtime: str | None = strawberry.field(description="Overrides the version's runtime.")
    file_revision: int | None
    traffic_percent: int
    _as_of: strawberry.Private[datetime | None] = None

    @strawberry.field(description="The version (as it was then, in asOf views).")
    async def version(self, info: Info) -> ModelVersionRef | None:
        from app.graphql.models.types import ModelVersionType

        if self._as_of is not None:
            past = await info.context.container.models.version_as_of(self.version_id, self._as_of)
            return None if past is None else ModelVersionType.from_aggregate(past, self._as_of)
        row = await info.context.loaders.versions.load(str(self.version_id))
        return None if row is None else ModelVersionType.from_row(row)

    @strawberry.field(
        description="The version's inputs as its runtime declared them on loading; null when"
        " this server process has not loaded it (stopped, deploying, failed, or served by"
        " another process) and in asOf views. Models are never loaded just to answer this."
    )
    async def inputs(self, info: Info) -> list[TensorSignature] | None:
        if self._as_of is not None:
            return None
        return await loaded_inputs(
            info.context.container.serving, str(self.version_id), self.file_revision
        )

    @classmethod
    def from_row(cls, row: DeploymentRow) -> Deployment:
        return cls(
            version_id=strawberry.ID(row.version_id),
            model_id=strawberry.ID(row.model_id),
            version_number=row.number,
            instances=row.instances,
            cpu=row.cpu,
            memory_mb=row.memory_mb,
            gpus=row.gpus,
            runtime=row.runtime,
            file_revision=row.file_revision,
            traffic_percent=row.weight,
        )


@strawberry.type
class Revision:
    revision: int
    kind: str = strawberry.field(
        description="publish, traffic, upgrade, rollback, update or version_removed"
    )
    restored_revision: int | None
    deployments: list[Deployment]
    created_at: datetime
    created_by: str

    @classmethod
    def from_row(cls, row: RevisionRow) -> Revision:
        return cls(
            revision=row.revision,
            kind=row.kind,
            restored_revision=row.restored or None,
            deployments=[Deployment.from_row(DeploymentRow(**d)) for d in row.deployments],
            created_at=row.created_at,
            created_by=row.created_by,
        )


@strawberry.type
class Service:
    id: strawberry.ID
    name: str
    host_id: str
    status: ServiceStatus
    status_reason: str
    revision: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    deleted: bool = strawberry.field(default=False, description="Only ever true in asOf views.")
    as_of: datetime | None = strawberry.field(
        default=None, description="Set when this is the state at a past moment (asOf queries)."
    )
    _deployments: strawberry.Private[list[Deployment] | None] = None  # asOf: from the log
    _revisions: strawberry.Private[list[Revision] | None] = None

    @strawberry.field(description="POST predictions here (v1); /v2/models/<name>/infer too.")
    def endpoint(self, info: Info) -> str:
        return f"{base_url(info)}/v1/models/{self.name}:predict"

    @strawberry.field
    async def deployments(self, info: Info) -> list[Deployment]:
        if self._deployments is not None:
            return self._deployments
        rows = await info.context.loaders.deployments.load(str(self.id))
        return [Deployment.from_row(r) for r in rows]

    @strawberry.field(description="Every spec change, oldest first.")
    async def revisions(self, info: Info) -> list[Revision]:
        if self._revisions is not None:
            return self._revisions
        rows = await info.context.loaders.revisions.load(str(self.id))
        return [Revision.from_row(r) for r in rows]

    @strawberry.field(
        permission_classes=[IsEditor],
        description="The access key for the predict routes (editors and admins only; null"
        " in asOf views).",
    )
    async def access_key(self, info: Info) -> str | None:
        if self.as_of is not None:
            return None
        row_hash = await info.context.container.db.fetchval(
            "SELECT key_hash FROM rm_services WHERE id = $1", str(self.id)
        )
        return None if row_hash is None else await info.context.container.keys.reveal(row_hash)

    @classmethod
    def from_row(cls, row: ServiceRow) -> Service:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            host_id=row.host_id,
            status=DomainStatus(row.status),
            status_reason=row.status_reason,
            revision=row.revision,
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
        )
