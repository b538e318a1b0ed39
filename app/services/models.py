"""Application service for models and versions: load, decide (in the domain), save."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from app.adapters.event_store.port import EventMeta
from app.services.ids import parse_id
from app.services.projector import ReadModelSync
from app.services.repository import Commands, Repository
from domain.errors import InUse, ValidationError
from domain.model import Model, ModelList, name_id
from domain.names import NameClaim
from domain.rules import name_key
from domain.service import Service
from domain.version import ModelVersion, version_id

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """What a caller says about a new version. With ``source`` (kind upload,
    object_storage or training_task) the version starts IMPORTING and its files follow;
    without, it only records ``source_uri`` and is READY at once."""

    model_format: str
    framework: str | None = None
    runtime: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    source_uri: str | None = None
    description: str | None = None
    source: dict[str, str] | None = None


class ModelService:
    def __init__(self, repository: Repository, projector: ReadModelSync) -> None:
        self.repo = repository
        self.commands = Commands(repository, projector)

    async def import_model(
        self,
        name: str,
        spec: VersionSpec,
        *,
        model_list: ModelList = ModelList.ORIGINAL,
        description: str | None = None,
        tags: dict[str, Any] | list[tuple[object, object]] | None = None,
        meta: EventMeta,
    ) -> tuple[Model, ModelVersion]:
        """Create a model and its V1 in one atomic append."""

        async def command() -> tuple[Model, ModelVersion]:
            model = Model.register(name, model_list, description, tags or {})
            version = _new_version(model, spec)
            claim = await self.repo.find(name_id(model_list, model.name), NameClaim)
            if claim is None:
                claim = NameClaim.claim_new(
                    model_list.names, name_key(model.name), model.name, model.id
                )
            else:
                claim.claim(model.name, model.id)
            await self.commands.save(claim, model, version, meta=meta)
            return model, version

        return await self.commands.run(None, command)

    async def import_version(
        self, model_id: str | UUID, spec: VersionSpec, *, meta: EventMeta
    ) -> tuple[Model, ModelVersion]:
        """A new version numbered highest-ever + 1."""
        mid = parse_id(model_id, "modelId")

        async def command() -> tuple[Model, ModelVersion]:
            model = await self.repo.get(mid, Model, kind="model")
            version = _new_version(model, spec)
            await self.commands.save(model, version, meta=meta)
            return model, version

        return await self.commands.run(mid, command)

    async def edit_tags(
        self, model_id: str | UUID, tags: list[tuple[object, object]], *, meta: EventMeta
    ) -> Model:
        return await self._change_model(model_id, lambda m: m.edit_tags(tags), meta)

    async def update_description(
        self, model_id: str | UUID, description: str | None, *, meta: EventMeta
    ) -> Model:
        return await self._change_model(model_id, lambda m: m.update_description(description), meta)

    async def _change_model(self, model_id: str | UUID, change: Any, meta: EventMeta) -> Model:
        mid = parse_id(model_id, "modelId")
        model, _ = await self.commands.change(mid, Model, "model", change, meta=meta)
        return model

    async def delete_model(
        self, model_id: str | UUID, *, meta: EventMeta, force: bool = False
    ) -> tuple[Model, int]:
        """Delete the model, all its versions, and free its name — atomically. A version
        that services deploy stops the deletion (InUse names them) unless ``force``, which
        removes it from those services in the same append. Returns the model and how many
        versions were deleted with it."""
        mid = parse_id(model_id, "modelId")

        async def command() -> tuple[Model, int]:
            model = await self.repo.get(mid, Model, kind="model")
            model.delete()
            claim = await self.repo.get(
                name_id(ModelList(model.model_list), model.name), NameClaim, kind="model name"
            )
            claim.release()
            versions = await asyncio.gather(
                *(
                    self.repo.find(version_id(mid, n), ModelVersion)
                    for n in range(1, model.last_version_number + 1)
                )
            )
            live = [v for v in versions if v is not None and not v.deleted]
            services: dict[UUID, Service] = {}
            for version in live:
                for service in await self._users(version, force, model_name=model.name):
                    service = services.setdefault(service.id, service)
                    service.remove_version(str(version.id))
                    version.detach(str(service.id))
                version.delete()
            await self.commands.save(model, claim, *live, *services.values(), meta=meta)
            return model, len(live)

        return await self.commands.run(mid, command)

    async def delete_version(
        self, version_ref: str | UUID, *, meta: EventMeta, force: bool = False
    ) -> ModelVersion:
        """Delete a version; with ``force`` the services using it stop deploying it in the
        same append, otherwise InUse names them."""
        vid = parse_id(version_ref, "versionId")

        async def command() -> ModelVersion:
            version = await self.repo.get(vid, ModelVersion, kind="version")
            services = await self._users(version, force)
            for service in services:
                service.remove_version(str(version.id))
                version.detach(str(service.id))
            version.delete()
            await self.commands.save(version, *services, meta=meta)
            return version

        return await self.commands.run(vid, command)

    async def _users(
        self, version: ModelVersion, force: bool, model_name: str | None = None
    ) -> list[Service]:
        services = [
            await self.repo.get(UUID(sid), Service, kind="service") for sid in version.services
        ]
        if services and not force:
            kind, ident = ("model", model_name) if model_name else ("version", version.label)
            raise InUse(kind, ident, [s.name for s in services])
        return services

    async def change_version(
        self, version_ref: str | UUID, change: Callable[[ModelVersion], T], *, meta: EventMeta
    ) -> tuple[ModelVersion, T]:
        """Load a version, apply ``change`` (a domain command), save; retried on conflict."""
        vid = parse_id(version_ref, "versionId")
        return await self.commands.change(vid, ModelVersion, "version", change, meta=meta)

    async def get_version(self, version_ref: str | UUID) -> ModelVersion:
        return await self.repo.get(parse_id(version_ref, "versionId"), ModelVersion, kind="version")

    async def get_model(self, model_ref: str | UUID) -> Model:
        return await self.repo.get(parse_id(model_ref, "modelId"), Model, kind="model")

    async def model_as_of(self, model_id: str | UUID, as_of: datetime) -> Model | None:
        return await self.repo.find(parse_id(model_id, "id"), Model, as_of=as_of)

    async def version_as_of(self, version_ref: str | UUID, as_of: datetime) -> ModelVersion | None:
        return await self.repo.find(parse_id(version_ref, "id"), ModelVersion, as_of=as_of)

    async def model_id_by_name_as_of(
        self, name: str, model_list: ModelList, as_of: datetime
    ) -> UUID | None:
        try:
            claim_id = name_id(model_list, name)
        except ValidationError:
            return None  # never a valid name, so never held
        claim = await self.repo.find(claim_id, NameClaim, as_of=as_of)
        return None if claim is None else claim.owner_id


def _new_version(model: Model, spec: VersionSpec) -> ModelVersion:
    number = model.allocate_version_number()
    if spec.source is not None:
        return ModelVersion.start_import(
            model.id,
            number,
            spec.model_format,
            spec.source,
            framework=spec.framework,
            runtime=spec.runtime,
            metrics=spec.metrics,
            description=spec.description,
        )
    return ModelVersion.import_metadata(
        model.id,
        number,
        spec.model_format,
        framework=spec.framework,
        runtime=spec.runtime,
        metrics=spec.metrics,
        source_uri=spec.source_uri,
        description=spec.description,
    )
