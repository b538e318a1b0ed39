"""The ModelVersion aggregate: one immutable artifact set of a model."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyDeleted, ValidationError
from domain.formats import DEFAULT_FRAMEWORK, ModelFormat, resolve_runtime
from domain.rules import clean_description, clean_framework, clean_metrics

SOURCE_URI_MAX = 1024


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
        fmt = check_format(model_format)
        uri = (source_uri or "").strip()
        if len(uri) > SOURCE_URI_MAX:
            raise ValidationError("sourceUri", f"must be at most {SOURCE_URI_MAX} characters")
        return cls(
            model_id=model_id,
            number=number,
            model_format=fmt.value,
            framework=clean_framework(framework, DEFAULT_FRAMEWORK[fmt]),
            runtime=resolve_runtime(fmt, runtime),
            metrics=clean_metrics(metrics or {}),
            source={"kind": "metadata", "uri": uri},
            description=clean_description(description),
            status=VersionStatus.READY.value,
        )

    @property
    def label(self) -> str:
        return f"V{self.number}"

    def check_not_deleted(self) -> None:
        if self.deleted:
            raise AlreadyDeleted("version", self.label)

    def delete(self) -> None:
        self.check_not_deleted()
        self._deleted(model_id=self.model_id, number=self.number)

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
