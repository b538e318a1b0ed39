"""Application service for optimization jobs: request (every check before any work), claim,
record progress, and save the result as a version of a model in the OPTIMIZED list."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from app.adapters.event_store.port import ConcurrencyConflict, EventMeta
from app.services.ids import parse_id
from app.services.import_sources import LocalSource
from app.services.imports import ImportService
from app.services.models import VersionSpec
from app.services.projector import ReadModelSync
from app.services.repository import Commands, Repository
from domain.errors import InvalidState, NameTaken
from domain.formats import ModelFormat
from domain.model import Model, ModelList, name_id
from domain.names import NameClaim
from domain.optimization import JobStatus, OptimizationJob
from domain.rules import NAME_MAX, clean_name
from domain.version import ModelVersion
from projections.base import Reader
from projections.versions import FileRow, files

SUFFIX = "-optimized"

# Checks a job's example input against the source model before the job is accepted: raises
# ValidationError (blocking; run in a thread). app.optimize.pipeline.preflight, passed in
# by bootstrap: the optimizers sit above the services that record their jobs.
Preflight = Callable[[Path, str, str | None, Any], None]


def default_target(model_name: str) -> str:
    return model_name[: NAME_MAX - len(SUFFIX)].rstrip() + SUFFIX


class PackageCache(Protocol):
    """Where a version's files are copied to a local folder: the process's one model cache
    (app.serving.cache.ModelCache), which bootstrap passes in."""

    async def fetch(self, prefix: str, files: Sequence[FileRow]) -> Path:
        """The local folder holding these files, checked against them."""


class OptimizationService:
    def __init__(
        self,
        repository: Repository,
        projector: ReadModelSync,
        imports: ImportService,
        db: Reader,
        cache: PackageCache,
        *,
        preflight: Preflight,
    ) -> None:
        self.repo = repository
        self.commands = Commands(repository, projector)
        self.imports = imports
        self.db = db
        self.cache = cache
        self.preflight = preflight

    async def request(
        self,
        version_ref: str | UUID,
        methods: list[str],
        *,
        target_model: str | None,
        options: dict[str, Any],
        meta: EventMeta,
    ) -> OptimizationJob:
        """A PENDING job, after checking the version, the methods and the example input."""
        version = await self.repo.get(
            parse_id(version_ref, "versionId"), ModelVersion, kind="version"
        )
        version.check_ready("optimize it")
        if version.active_revision is None:
            raise InvalidState("version", version.label, "registered without files", "optimize it")
        model = await self.repo.get(version.model_id, Model, kind="model")
        target = clean_name(target_model or default_target(model.name), "targetModel")
        job = OptimizationJob.request(
            version.id, model.id, version.model_format, methods, target, options
        )
        package = await self.package(version)
        await asyncio.to_thread(
            self.preflight,
            package,
            version.model_format,
            version.source.get("model_file") or None,
            job.options.get("example_input"),
        )
        await self.commands.save(job, meta=meta)
        return job

    async def package(self, version: ModelVersion) -> Path:
        """The local copy of the version's active files."""
        file_set = version.file_set(version.active_revision)
        if file_set is None:
            raise InvalidState("version", version.label, "without files", "optimize it")
        manifest = await files(self.db, str(version.id), file_set["revision"])
        return await self.cache.fetch(file_set["prefix"], manifest)

    async def get(self, job_ref: str | UUID) -> OptimizationJob:
        jid = parse_id(job_ref, "jobId")
        return await self.repo.get(jid, OptimizationJob, kind="optimization job")

    async def change(
        self, job_ref: str | UUID, change: Callable[[OptimizationJob], Any], *, meta: EventMeta
    ) -> OptimizationJob:
        jid = parse_id(job_ref, "jobId")
        job, _ = await self.commands.change(
            jid, OptimizationJob, "optimization job", change, meta=meta
        )
        return job

    async def claim(
        self, job_ref: str | UUID, worker: str, *, meta: EventMeta
    ) -> OptimizationJob | None:
        """Start the job for this worker; None when another worker got it first."""
        job = await self.get(job_ref)
        if job.status != JobStatus.PENDING:
            return None
        job.start(worker, datetime.now(UTC).isoformat())
        try:
            await self.commands.save(job, meta=meta)
        except ConcurrencyConflict:
            return None
        return job

    async def save_result(
        self,
        job: OptimizationJob,
        source: ModelVersion,
        folder: Path,
        model_file: str,
        *,
        meta: EventMeta,
    ) -> ModelVersion:
        """The package in ``folder`` as a new version of the job's target model in the
        OPTIMIZED list (created when missing; a concurrent creation is joined)."""
        same_format = job.result_format == source.model_format
        runtime = job.options.get("runtime") or (source.runtime if same_format else None)
        spec = VersionSpec(
            model_format=ModelFormat(job.result_format),
            framework=source.framework,
            runtime=runtime,
            description=f"{', '.join(job.methods)} of {source.label}",
        )
        local = LocalSource(
            folder,
            {
                "kind": "optimization",
                "uri": f"{source.label} of model {source.model_id}",
                "version_id": str(source.id),
                "job_id": str(job.id),
                "model_file": model_file,
            },
        )
        for _ in range(3):
            claim = await self.repo.find(name_id(ModelList.OPTIMIZED, job.target_model), NameClaim)
            if claim is not None and claim.owner_id is not None:
                _, version = await self.imports.import_version(
                    claim.owner_id, spec, local, meta=meta
                )
                return version
            try:
                _, version = await self.imports.import_model(
                    job.target_model,
                    spec,
                    local,
                    model_list=ModelList.OPTIMIZED,
                    description=f"Optimized versions of model {source.model_id}",
                    meta=meta,
                )
                return version
            except NameTaken:
                continue  # another job created it meanwhile: add to it
        raise NameTaken(job.target_model, ModelList.OPTIMIZED.value)
