"""Importing a version's files: by upload, from object storage, or from a training task.

Every import first records the version as IMPORTING, then brings the files into the
repository's storage under a fresh prefix while keeping a local copy in a work directory,
checks the package there (by content), and records READY with the manifest — or FAILED
with the reason, after deleting whatever it stored. Stored files become visible only
through the manifest of a READY version, so a failed import leaves nothing half-visible.
Where the files come from, and how each source is read, is in ``import_sources``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path
from uuid import UUID

from app.adapters.event_store.port import EventMeta
from app.adapters.object_store.port import ObjectStore, ObjectStoreError
from app.packages import ArchiveLimits, UnsafeArchive, UnsafeName, check_package
from app.packages.redact import without_paths
from app.services.import_sources import (
    LocalSource,
    Plan,
    Source,
    SourceOpener,
    SourceUnavailable,
    TaskSource,
    UploadSource,
    UriSource,
    plan_local,
    plan_upload,
    plan_uri,
)
from app.services.models import ModelService, VersionSpec
from app.services.training import TrainingService
from domain.errors import DomainError, ValidationError
from domain.formats import ModelFormat
from domain.model import Model, ModelList
from domain.version import FileSet, ModelVersion

__all__ = [  # the sources are defined in import_sources and used from here too
    "ImportFailed",
    "ImportService",
    "LocalSource",
    "Source",
    "SourceOpener",
    "SourceUnavailable",
    "TaskSource",
    "UploadSource",
    "UriSource",
]


class ImportFailed(DomainError):
    """The files arrived but the package is not valid (or could not be stored)."""

    def __init__(self, version: ModelVersion, reason: str) -> None:
        super().__init__(f"import of {version.label} failed: {reason}")
        self.version = version
        self.reason = reason


class ImportService:
    def __init__(
        self,
        models: ModelService,
        training: TrainingService,
        storage: ObjectStore,
        open_source: SourceOpener,
        work_dir: Path,
        archive_limits: ArchiveLimits = ArchiveLimits(),  # noqa: B008 - frozen value
    ) -> None:
        self.models = models
        self.training = training
        self.storage = storage
        self.open_source = open_source
        self.work_dir = work_dir
        self.archive_limits = archive_limits

    async def import_model(
        self,
        name: str,
        spec: VersionSpec,
        source: Source,
        *,
        model_list: ModelList = ModelList.ORIGINAL,
        description: str | None = None,
        tags: list[tuple[object, object]] | None = None,
        meta: EventMeta,
    ) -> tuple[Model, ModelVersion]:
        """A new model whose V1 holds the source's files. Raises ImportFailed (with the
        FAILED version) when the package is refused."""
        plan = await self._plan(spec, source)
        try:
            model, version = await self.models.import_model(
                name,
                plan.spec,
                model_list=model_list,
                description=description,
                tags=tags,
                meta=meta,
            )
            return model, await self._run(version, plan, meta)
        finally:
            await plan.close()

    async def import_version(
        self, model_id: str | UUID, spec: VersionSpec, source: Source, *, meta: EventMeta
    ) -> tuple[Model, ModelVersion]:
        plan = await self._plan(spec, source)
        try:
            model, version = await self.models.import_version(model_id, plan.spec, meta=meta)
            return model, await self._run(version, plan, meta)
        finally:
            await plan.close()

    async def reupload(
        self, version_id: str | UUID, source: Source, *, meta: EventMeta
    ) -> ModelVersion:
        """New files for a READY version, recorded as a pending file set that a service
        update activates. A refused package records nothing and raises ValidationError."""
        version = await self.models.get_version(version_id)
        version.check_ready("re-upload its files")
        spec = VersionSpec(model_format=version.model_format, runtime=version.runtime)
        plan = await self._plan(spec, source)
        try:
            file_set = await self._bring(version, plan)
            try:
                version, _ = await self.models.change_version(
                    version.id, lambda v: v.reupload(file_set), meta=meta
                )
            except BaseException:
                await self.storage.delete_prefix(file_set.prefix)
                raise
            await plan.finish()
            return version
        except _Refused as refused:
            raise ValidationError("files", refused.reason) from None
        finally:
            await plan.close()

    # -- the steps -------------------------------------------------------------------

    async def _run(self, version: ModelVersion, plan: Plan, meta: EventMeta) -> ModelVersion:
        try:
            file_set = await self._bring(version, plan)
        except _Refused as refused:
            reason = refused.reason
            failed, _ = await self.models.change_version(
                version.id, lambda v: v.fail_import(reason), meta=meta
            )
            raise ImportFailed(failed, reason) from None
        except BaseException:
            # Cancelled or crashed midway: never leave the version IMPORTING.
            await asyncio.shield(self._fail_quietly(version, meta))
            raise
        ready, _ = await self.models.change_version(
            version.id, lambda v: v.complete_import(file_set), meta=meta
        )
        await plan.finish()
        return ready

    async def _fail_quietly(self, version: ModelVersion, meta: EventMeta) -> None:
        with contextlib.suppress(DomainError):
            await self.models.change_version(
                version.id, lambda v: v.fail_import("the import was interrupted"), meta=meta
            )

    async def _bring(self, version: ModelVersion, plan: Plan) -> FileSet:
        """Store the files under a fresh prefix and check the local copy; on any failure
        delete what was stored. Raises _Refused for problems with the package."""
        prefix = f"models/{version.model_id}/{version.number}/{uuid.uuid4().hex}"
        self.work_dir.mkdir(parents=True, exist_ok=True)
        local = Path(tempfile.mkdtemp(prefix="import-", dir=self.work_dir))
        try:
            try:
                entries = await plan.fetch(local / "package", prefix)
            except (UnsafeArchive, UnsafeName) as exc:
                raise _Refused(str(exc)) from None
            except ObjectStoreError as exc:
                reason = without_paths(
                    f"could not copy the files: {exc}", [local / "package"], every_path=True
                )
                raise _Refused(reason) from None
            problems = await asyncio.to_thread(
                check_package, local / "package", ModelFormat(version.model_format), version.runtime
            )
            if problems:
                raise _Refused("; ".join(str(p) for p in problems))
            return FileSet(prefix=prefix, files=tuple(sorted(entries, key=lambda e: e.path)))
        except BaseException:
            await asyncio.shield(self.storage.delete_prefix(prefix))
            raise
        finally:
            await asyncio.to_thread(shutil.rmtree, local, True)

    async def _plan(self, spec: VersionSpec, source: Source) -> Plan:
        if isinstance(source, UploadSource):
            return plan_upload(spec, source, self.storage, self.archive_limits)
        if isinstance(source, LocalSource):
            return plan_local(spec, source, self.storage)
        if isinstance(source, TaskSource):
            task = await self.training.get(source.task_id)
            task.check_importable()
            spec = replace(
                spec,
                framework=spec.framework or task.framework,
                metrics={**task.latest_metrics, **spec.metrics},
            )
            uri, kind = task.output_uri, {"kind": "training_task", "task_id": str(task.id)}
        else:
            uri, kind = source.uri, {"kind": "object_storage"}
        return await plan_uri(spec, uri, source.move, kind, self.storage, self.open_source)


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
