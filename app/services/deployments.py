"""Application service for prediction services: publish, change the spec, keys, status.

Every spec change also attaches the versions it starts using and detaches the ones it
stops using, in the same atomic append, so a version in use cannot be deleted by a racing
command (its aggregate knows its services).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from app.adapters.event_store.port import EventMeta
from app.services.ids import parse_id
from app.services.keys import KeyVault, hash_key, new_access_key, new_host_id
from app.services.projector import ReadModelSync
from app.services.repository import Commands, Repository
from domain.errors import ValidationError
from domain.names import NameClaim, Namespace
from domain.service import (
    Deployment,
    Service,
    ServiceStatus,
    deployment,
    service_name_id,
)
from domain.version import ModelVersion


@dataclass(frozen=True, slots=True)
class VersionChoice:
    """A version to deploy and its resources."""

    version_id: str
    instances: int = 1
    cpu: float = 1.0
    memory_mb: int = 1024
    gpus: int = 0
    runtime: str | None = None
    weight: int = 0


class ServiceManager:
    def __init__(
        self,
        repository: Repository,
        projector: ReadModelSync,
        keys: KeyVault,
        *,
        max_memory_mb: int | None = None,
    ) -> None:
        self.repo = repository
        self.keys = keys
        self.commands = Commands(repository, projector)
        # The most memory a deployment may ask for on this server (its processes' ceiling).
        self.max_memory_mb = max_memory_mb

    async def _entry(self, choice: VersionChoice) -> tuple[ModelVersion, Deployment]:
        if self.max_memory_mb is not None and choice.memory_mb > self.max_memory_mb:
            raise ValidationError(
                "memoryMb",
                f"must be at most {self.max_memory_mb} on this server"
                " (its MODELREPO_USER_CODE_MAX_MEMORY_MB)",
            )
        version = await self.repo.get(
            parse_id(choice.version_id, "versionId"), ModelVersion, kind="version"
        )
        return version, deployment(
            version.id,
            version.model_id,
            version.number,
            instances=choice.instances,
            cpu=choice.cpu,
            memory_mb=choice.memory_mb,
            gpus=choice.gpus,
            runtime=choice.runtime,
            file_revision=version.active_revision,
            weight=choice.weight,
        )

    async def publish(
        self, name: str, versions: list[VersionChoice], *, meta: EventMeta
    ) -> tuple[Service, str]:
        """A new service and its access key (returned once here; revealable later)."""
        key = new_access_key()

        async def command() -> Service:
            chosen = [await self._entry(c) for c in versions]
            service = Service.publish(name, new_host_id(), hash_key(key), [d for _, d in chosen])
            await self.keys.store(str(service.id), key)
            for version, _ in chosen:
                version.attach(str(service.id))
            claim = await self.repo.find(service_name_id(service.name), NameClaim)
            if claim is None:
                claim = NameClaim.claim_new(
                    Namespace.SERVICES, service.name, service.name, service.id
                )
            else:
                claim.claim(service.name, service.id)
            await self.commands.save(claim, service, *(v for v, _ in chosen), meta=meta)
            return service

        return await self.commands.run(None, command), key

    async def change(
        self,
        service_ref: str | UUID,
        decide: Callable[[Service, list[Deployment]], Any],
        *,
        meta: EventMeta,
        adding: list[VersionChoice] | None = None,
    ) -> Service:
        """Load a service, apply ``decide`` (with deployments made from ``adding``),
        attach/detach versions to match, and save it all at once."""
        sid = parse_id(service_ref, "serviceId")

        async def command() -> Service:
            service = await self.repo.get(sid, Service, kind="service")
            before = {d["version_id"] for d in service.deployments}
            entries = [await self._entry(c) for c in adding or ()]
            decide(service, [d for _, d in entries])
            after = {d["version_id"] for d in service.deployments}
            touched = [v for v, _ in entries]
            loaded = {str(v.id): v for v in touched}
            for vid in (after - before) | (before - after):
                if vid not in loaded:
                    loaded[vid] = await self.repo.get(UUID(vid), ModelVersion, kind="version")
            for vid, version in loaded.items():
                if vid in after - before:
                    version.attach(str(service.id))
                elif vid in before - after:
                    version.detach(str(service.id))
            await self.commands.save(service, *loaded.values(), meta=meta)
            return service

        return await self.commands.run(sid, command)

    async def set_traffic(
        self, service_ref: str | UUID, weights: dict[str, object], *, meta: EventMeta
    ) -> Service:
        cleaned = {str(parse_id(k, "versionId")): v for k, v in weights.items()}
        return await self.change(service_ref, lambda s, _: s.set_traffic(cleaned), meta=meta)

    async def upgrade(
        self, service_ref: str | UUID, to: VersionChoice, *, full: bool, meta: EventMeta
    ) -> Service:
        def decide(service: Service, entries: list[Deployment]) -> None:
            if full:
                service.replace_all(entries[0])
            else:
                service.add_version(entries[0])

        return await self.change(service_ref, decide, meta=meta, adding=[to])

    async def rollback(
        self, service_ref: str | UUID, revision: int | None, *, meta: EventMeta
    ) -> Service:
        return await self.change(service_ref, lambda s, _: s.rollback(revision), meta=meta)

    async def update(self, service_ref: str | UUID, *, meta: EventMeta) -> Service:
        """Redeploy: each version's pending file set becomes active and is picked up."""
        sid = parse_id(service_ref, "serviceId")

        async def command() -> Service:
            service = await self.repo.get(sid, Service, kind="service")
            service.check_live()
            versions = [
                await self.repo.get(UUID(d["version_id"]), ModelVersion, kind="version")
                for d in service.deployments
            ]
            revisions = {}
            for version in versions:
                if (active := version.activate_pending_files()) is not None:
                    revisions[str(version.id)] = active
            service.redeploy({str(v.id): v.active_revision or 0 for v in versions} | revisions)
            await self.commands.save(service, *versions, meta=meta)
            return service

        return await self.commands.run(sid, command)

    async def rotate_key(self, service_ref: str | UUID, *, meta: EventMeta) -> tuple[Service, str]:
        key = new_access_key()
        sid = parse_id(service_ref, "serviceId")
        key_hash = await self.keys.store(str(sid), key)
        service = await self.change(sid, lambda s, _: s.rotate_key(key_hash), meta=meta)
        await self.keys.forget(str(sid), keep=key_hash)
        return service, key

    async def stop(self, service_ref: str | UUID, *, meta: EventMeta) -> Service:
        return await self.change(service_ref, lambda s, _: s.stop("stopped by a user"), meta=meta)

    async def start(self, service_ref: str | UUID, *, meta: EventMeta) -> Service:
        return await self.change(service_ref, lambda s, _: s.start(), meta=meta)

    async def report_status(
        self,
        service_ref: str | UUID,
        status: ServiceStatus,
        reason: str,
        *,
        revision: int | None = None,
        meta: EventMeta,
    ) -> None:
        await self.change(
            service_ref, lambda s, _: s.report_status(status, reason, revision=revision), meta=meta
        )

    async def version_failed(
        self, service_ref: str | UUID, vid: str, revision: int, reason: str, *, meta: EventMeta
    ) -> None:
        await self.change(
            service_ref, lambda s, _: s.version_failed(vid, revision, reason), meta=meta
        )

    async def delete(self, service_ref: str | UUID, *, meta: EventMeta) -> Service:
        sid = parse_id(service_ref, "serviceId")

        async def command() -> Service:
            service = await self.repo.get(sid, Service, kind="service")
            service.delete()
            claim = await self.repo.get(service_name_id(service.name), NameClaim, kind="name")
            claim.release()
            versions = [
                await self.repo.get(UUID(d["version_id"]), ModelVersion, kind="version")
                for d in service.deployments
            ]
            for version in versions:
                version.detach(str(service.id))
            await self.commands.save(service, claim, *versions, meta=meta)
            return service

        service = await self.commands.run(sid, command)
        await self.keys.forget(str(sid))
        return service
