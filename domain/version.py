"""The ModelVersion aggregate: one immutable artifact set of a model."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyDeleted, InUse, InvalidState, ValidationError
from domain.formats import DEFAULT_FRAMEWORK, ModelFormat, resolve_runtime
from domain.rules import clean_description, clean_framework, clean_metrics

SOURCE_URI_MAX = 1024
SOURCE_KINDS = ("upload", "object_storage", "training_task", "optimization")
PATH_MAX = 4096


class VersionStatus(StrEnum):
    IMPORTING = "IMPORTING"
    READY = "READY"
    FAILED = "FAILED"


def version_id(model_id: UUID, number: int) -> UUID:
    return uuid5(model_id, f"version/{number}")


class ModelVersion(Aggregate):
    @staticmethod
    def create_id(model_id: UUID, number: int, **_: Any) -> UUID:
        return version_id(model_id, number)

    @event("Imported")
    def __init__(
        self,
        model_id: UUID,
        number: int,
        model_format: str,
        framework: str,
        runtime: str,
        metrics: dict[str, float],
        source: dict[str, str],
        description: str,
        status: str,
    ) -> None:
        self.model_id = model_id
        self.number = number
        self.model_format = model_format
        self.framework = framework
        self.runtime = runtime
        self.metrics = metrics
        self.source = source
        self.description = description
        self.status = status
        self.deleted = False
        self.file_sets: list[dict[str, Any]] = []
        self.services: list[str] = []
        self.active_revision: int | None = None
        self.pending_revision: int | None = None
        self.failure = ""

    @classmethod
    def import_metadata(
        cls,
        model_id: UUID,
        number: int,
        model_format: ModelFormat | str,
        *,
        framework: str | None = None,
        runtime: str | None = None,
        metrics: dict[str, Any] | None = None,
        source_uri: str | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """A version that only records where its model lives (no files are copied)."""
        return cls._new(
            model_id,
            number,
            model_format,
            framework=framework,
            runtime=runtime,
            metrics=metrics,
            source={"kind": "metadata", "uri": _clean_uri(source_uri)},
            description=description,
            status=VersionStatus.READY,
        )

    @classmethod
    def start_import(
        cls,
        model_id: UUID,
        number: int,
        model_format: ModelFormat | str,
        source: dict[str, str],
        *,
        framework: str | None = None,
        runtime: str | None = None,
        metrics: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """A version whose files are being imported (upload, object storage, training task);
        it is IMPORTING until complete_import or fail_import."""
        if source.get("kind") not in SOURCE_KINDS:
            raise ValidationError("source", f"unknown source kind {source.get('kind')!r}")
        return cls._new(
            model_id,
            number,
            model_format,
            framework=framework,
            runtime=runtime,
            metrics=metrics,
            source={**source, "uri": _clean_uri(source.get("uri"))},
            description=description,
            status=VersionStatus.IMPORTING,
        )

    @classmethod
    def _new(
        cls,
        model_id: UUID,
        number: int,
        model_format: ModelFormat | str,
        *,
        framework: str | None,
        runtime: str | None,
        metrics: dict[str, Any] | None,
        source: dict[str, str],
        description: str | None,
        status: VersionStatus,
    ) -> ModelVersion:
        fmt = check_format(model_format)
        return cls(
            model_id=model_id,
            number=number,
            model_format=fmt.value,
            framework=clean_framework(framework, DEFAULT_FRAMEWORK[fmt]),
            runtime=resolve_runtime(fmt, runtime),
            metrics=clean_metrics(metrics or {}),
            source=source,
            description=clean_description(description),
            status=status.value,
        )

    # -- files ------------------------------------------------------------------------

    def check_importing(self) -> None:
        self.check_not_deleted()
        if self.status != VersionStatus.IMPORTING:
            raise InvalidState("version", self.label, self.status.lower(), "finish an import")

    def complete_import(self, file_set: FileSet) -> None:
        self.check_importing()
        self._files_imported(file_set=file_set.with_revision(1).to_dict())

    @event("FilesImported")
    def _files_imported(self, file_set: dict[str, Any]) -> None:
        self.file_sets = [file_set]
        self.active_revision = 1
        self.status = VersionStatus.READY.value

    def fail_import(self, reason: str) -> None:
        self.check_importing()
        self._import_failed(reason=(reason.strip() or "import failed")[:4000])

    @event("ImportFailed")
    def _import_failed(self, reason: str) -> None:
        self.failure = reason
        self.status = VersionStatus.FAILED.value

    def check_ready(self, action: str) -> None:
        self.check_not_deleted()
        if self.status != VersionStatus.READY:
            raise InvalidState("version", self.label, self.status.lower(), action)

    def reupload(self, file_set: FileSet) -> int:
        """Record new files as a pending file-set revision; a service update activates it."""
        self.check_ready("re-upload its files")
        if not self.file_sets:
            raise InvalidState("version", self.label, "registered without files", "re-upload")
        revision = len(self.file_sets) + 1
        self._files_reuploaded(file_set=file_set.with_revision(revision).to_dict())
        return revision

    @event("FilesReuploaded")
    def _files_reuploaded(self, file_set: dict[str, Any]) -> None:
        self.file_sets = [*self.file_sets, file_set]
        self.pending_revision = file_set["revision"]

    def activate_pending_files(self) -> int | None:
        """Make the pending file set the active one (services pick it up on update)."""
        self.check_ready("activate files")
        if self.pending_revision is None:
            return None
        self._file_set_activated(revision=self.pending_revision)
        return self.active_revision

    @event("FileSetActivated")
    def _file_set_activated(self, revision: int) -> None:
        self.active_revision = revision
        self.pending_revision = None

    def file_set(self, revision: int | None) -> dict[str, Any] | None:
        for file_set in self.file_sets:
            if file_set["revision"] == revision:
                return file_set
        return None

    @property
    def label(self) -> str:
        return f"V{self.number}"

    def check_not_deleted(self) -> None:
        if self.deleted:
            raise AlreadyDeleted("version", self.label)

    def delete(self) -> None:
        self.check_not_deleted()
        if self.services:
            raise InUse("version", self.label, self.services)
        self._deleted(model_id=self.model_id, number=self.number)

    def attach(self, service_id: str) -> None:
        """A service deploys this version (it must be READY with files)."""
        self.check_ready("deploy it")
        if self.active_revision is None:
            raise InvalidState("version", self.label, "registered without files", "deploy it")
        if service_id not in self.services:
            self._attached(service_id=service_id)

    @event("AttachedToService")
    def _attached(self, service_id: str) -> None:
        self.services = [*self.services, service_id]

    def detach(self, service_id: str) -> None:
        if service_id in self.services:
            self._detached(service_id=service_id)

    @event("DetachedFromService")
    def _detached(self, service_id: str) -> None:
        self.services = [s for s in self.services if s != service_id]

    @event("Deleted")
    def _deleted(self, model_id: UUID, number: int) -> None:
        # model_id and number ride along so read models need no lookups.
        self.deleted = True


def check_format(model_format: ModelFormat | str) -> ModelFormat:
    try:
        return ModelFormat(model_format)
    except ValueError:
        allowed = ", ".join(f.value for f in ModelFormat)
        raise ValidationError("format", f"unknown format {model_format!r}; use {allowed}") from None


def _clean_uri(uri: str | None) -> str:
    text = (uri or "").strip()
    if len(text) > SOURCE_URI_MAX:
        raise ValidationError("sourceUri", f"must be at most {SOURCE_URI_MAX} characters")
    return text


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class FileSet:
    """One revision of a version's files: where they are stored and their manifest."""

    prefix: str
    files: tuple[FileEntry, ...]
    revision: int = 0

    def __post_init__(self) -> None:
        if not self.files:
            raise ValidationError("files", "a package needs at least one file")
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValidationError("files", "the manifest lists a path twice")

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def with_revision(self, revision: int) -> FileSet:
        return replace(self, revision=revision)

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "prefix": self.prefix,
            "size": self.size,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
        }
