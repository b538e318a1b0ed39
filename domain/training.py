"""Training tasks: a record of a training run that versions can be imported from."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidState, ValidationError
from domain.rules import clean_framework, clean_metrics, clean_name

OUTPUT_URI_MAX = 1024
MAX_REPORTS = 100_000


class TrainingStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class TrainingTask(Aggregate):
    @event("Created")
    def __init__(self, name: str, framework: str, output_uri: str) -> None:
        self.name = name
        self.framework = framework
        self.output_uri = output_uri
        self.status = TrainingStatus.RUNNING.value
        self.latest_metrics: dict[str, float] = {}
        self.reports = 0

    @classmethod
    def create(cls, name: str, framework: str | None, output_uri: str) -> TrainingTask:
        uri = (output_uri or "").strip()
        if not uri:
            raise ValidationError("outputUri", "must not be empty")
        if len(uri) > OUTPUT_URI_MAX:
            raise ValidationError("outputUri", f"must be at most {OUTPUT_URI_MAX} characters")
        if not (framework or "").strip():
            raise ValidationError("framework", "must not be empty")
        return cls(name=clean_name(name), framework=clean_framework(framework, ""), output_uri=uri)

    def check_running(self, action: str) -> None:
        if self.status != TrainingStatus.RUNNING:
            raise InvalidState("training task", self.name, self.status.lower(), action)

    def check_importable(self) -> None:
        """Versions are imported from tasks that succeeded."""
        if self.status != TrainingStatus.SUCCEEDED:
            raise ValidationError(
                "trainingTaskId",
                f"training task {self.name!r} is {self.status.lower()}; import from a task"
                " that succeeded",
            )

    def report_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.check_running("report metrics")
        cleaned = clean_metrics(metrics)
        if not cleaned:
            raise ValidationError("metrics", "report at least one metric")
        if step is not None and not 0 <= step < 2**31:
            raise ValidationError("step", "must be between 0 and 2147483647")
        if self.reports >= MAX_REPORTS:
            raise ValidationError("metrics", f"a task takes at most {MAX_REPORTS} reports")
        self._metrics_reported(metrics=cleaned, step=step)

    @event("MetricsReported")
    def _metrics_reported(self, metrics: dict[str, float], step: int | None) -> None:
        self.latest_metrics = {**self.latest_metrics, **metrics}
        self.reports += 1

    def finish(self, succeeded: bool, message: str | None = None) -> None:
        self.check_running("finish it again")
        text = (message or "").strip()
        if len(text) > 2000:
            raise ValidationError("message", "must be at most 2000 characters")
        status = TrainingStatus.SUCCEEDED if succeeded else TrainingStatus.FAILED
        self._finished(status=status.value, message=text)

    @event("Finished")
    def _finished(self, status: str, message: str) -> None:
        self.status = status
