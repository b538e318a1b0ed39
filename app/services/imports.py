"""Importing a version's files: by upload, from object storage, or from a training task.

Every import first records the version as IMPORTING, then brings the files into the
repository's storage under a fresh prefix while keeping a local copy in a work directory,
checks the package there (by content), and records READY with the manifest — or FAILED
with the reason, after deleting whatever it stored. Stored files become visible only
through the manifest of a READY version, so a failed import leaves nothing half-visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from uuid import UUID

from app.adapters.event_store.port import EventMeta
from app.adapters.object_store.port import ObjectStore, ObjectStoreError
from app.adapters.object_store.uri import ObjectUri, parse_object_uri
from app.packages import (
    ArchiveLimits,
    UnsafeArchive,
    UnsafeName,
    check_file_name,
    check_package,
    extract_archive,
    is_archive,
)
from app.services._transfer import Tee, write_local
from app.services.models import ModelService, VersionSpec
from app.services.training import TrainingService
from domain.errors import DomainError, ValidationError
from domain.formats import ModelFormat
from domain.model import Model, ModelList
from domain.version import FileEntry, FileSet, ModelVersion

ReadChunk = Callable[[int], Awaitable[bytes]]
SourceOpener = Callable[[ObjectUri], Awaitable[ObjectStore]]
CHUNK = 1024 * 1024


class SourceUnavailable(DomainError):
    """The source of an import cannot be read (missing bucket, refused credentials, ...)."""


class ImportFailed(DomainError):
    """The files arrived but the package is not valid (or could not be stored)."""

    def __init__(self, version: ModelVersion, reason: str) -> None:
        super().__init__(f"import of {version.label} failed: {reason}")
        self.version = version
        self.reason = reason


@dataclass(frozen=True, slots=True)
class UploadSource:
    """One uploaded file (a model file, or a .zip / .tar.gz package)."""

    filename: str
    read: ReadChunk


@dataclass(frozen=True, slots=True)
class UriSource:
    uri: str
    move: bool = False


@dataclass(frozen=True, slots=True)
class TaskSource:
    task_id: str
    move: bool = False


Source = UploadSource | UriSource | TaskSource


@dataclass(frozen=True, slots=True)
class _Plan:
    """A source resolved and checked before anything is written."""

    spec: VersionSpec
    fetch: Callable[[Path, str], Awaitable[list[FileEntry]]]
    finish: Callable[[], Awaitable[None]]
    close: Callable[[], Awaitable[None]]


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

    async def _run(self, version: ModelVersion, plan: _Plan, meta: EventMeta) -> ModelVersion:
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

    async def _bring(self, version: ModelVersion, plan: _Plan) -> FileSet:
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
                raise _Refused(f"could not copy the files: {exc}") from None
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

    async def _plan(self, spec: VersionSpec, source: Source) -> _Plan:
        if isinstance(source, UploadSource):
            return self._plan_upload(spec, source)
        if isinstance(source, TaskSource):
            task = await self.training.get(source.task_id)
            task.check_importable()
            spec = replace(
                spec,
                framework=spec.framework or task.framework,
                metrics={**task.latest_metrics, **spec.metrics},
            )
            kind = {"kind": "training_task", "task_id": str(task.id)}
            return await self._plan_uri(spec, task.output_uri, source.move, kind)
        return await self._plan_uri(spec, source.uri, source.move, {"kind": "object_storage"})

    def _plan_upload(self, spec: VersionSpec, source: UploadSource) -> _Plan:
        try:
            filename = check_file_name(source.filename).rsplit("/", 1)[-1]
        except UnsafeName as exc:
            raise ValidationError("file", f"file name refused: {exc}") from None
        storage, limits = self.storage, self.archive_limits

        async def fetch(package: Path, prefix: str) -> list[FileEntry]:
            upload = package.parent / "upload"
            await write_local(upload, _read_all(source.read))
            if await asyncio.to_thread(is_archive, upload):
                await asyncio.to_thread(extract_archive, upload, package, limits)
            else:
                await asyncio.to_thread(_move_into, upload, package, filename)
            return await _store_tree(storage, package, prefix)

        return _Plan(
            spec=replace(spec, source={"kind": "upload", "uri": filename}),
            fetch=fetch,
            finish=_nothing,
            close=_nothing,
        )

    async def _plan_uri(
        self, spec: VersionSpec, uri: str, move: bool, source: dict[str, str]
    ) -> _Plan:
        try:
            parsed = parse_object_uri(uri)
        except ValueError as exc:
            raise ValidationError("uri", str(exc)) from None
        try:
            origin = await self.open_source(parsed)
        except ObjectStoreError as exc:
            raise SourceUnavailable(f"cannot read {parsed}: {exc}") from None
        try:
            objects = await origin.list(parsed.prefix)
        except ObjectStoreError as exc:
            await origin.close()
            raise SourceUnavailable(f"cannot list {parsed}: {exc}") from None
        if not objects:
            await origin.close()
            raise ValidationError("uri", f"there are no files under {parsed}")
        base = f"{parsed.prefix}/" if parsed.prefix else ""
        storage = self.storage

        async def fetch(package: Path, prefix: str) -> list[FileEntry]:
            entries = []
            for info in objects:
                relative = info.key.removeprefix(base) if base else info.key
                path = check_file_name(relative)
                tee = Tee(package / path)
                stored = await storage.put(f"{prefix}/{path}", tee.through(origin.get(info.key)))
                await tee.close()
                if stored.size != info.size:
                    raise ObjectStoreError(f"{info.key}: copied {stored.size} of {info.size} bytes")
                entries.append(FileEntry(path=path, size=stored.size, sha256=stored.sha256 or ""))
            return entries

        async def finish() -> None:
            if move:  # copied and verified (sizes, then READY recorded): now delete
                for info in objects:
                    await origin.delete(info.key)

        mode = "move" if move else "copy"
        return _Plan(
            spec=replace(spec, source={**source, "uri": str(parsed), "mode": mode}),
            fetch=fetch,
            finish=finish,
            close=origin.close,
        )


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _move_into(upload: Path, package: Path, filename: str) -> None:
    package.mkdir()
    upload.rename(package / filename)


async def _nothing() -> None:
    return None


async def _read_all(read: ReadChunk) -> AsyncIterator[bytes]:
    while chunk := await read(CHUNK):
        yield chunk


async def _store_tree(storage: ObjectStore, package: Path, prefix: str) -> list[FileEntry]:
    entries = []
    files = await asyncio.to_thread(lambda: sorted(p for p in package.rglob("*") if p.is_file()))
    for path in files:
        relative = path.relative_to(package).as_posix()
        stored = await storage.put(f"{prefix}/{relative}", _read_file(path))
        entries.append(FileEntry(path=relative, size=stored.size, sha256=stored.sha256 or ""))
    return entries


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        handle.close()
