"""Offline batch prediction: jobs (what to run, when) and runs (one execution each).

A run's id is derived from its job and scheduled time, so two schedulers can never create
the same run twice; a worker claims a run by appending its start (one winner). A run whose
worker stopped sending heartbeats is retried up to the job's attempts, then failed — never
left RUNNING.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyDeleted, InvalidState, ValidationError
from domain.rules import clean_name

FORMATS = ("CSV", "JSONL", "PARQUET")
URI_MAX = 1024
MAX_ATTEMPTS = 10


class RunStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINAL = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


def check_io(spec: dict[str, Any]) -> dict[str, Any]:
    """Input/output locations and formats of a job, checked."""
    problems = []
    for field in ("input_uri", "output_uri"):
        uri = str(spec.get(field) or "").strip()
        if not uri:
            problems.append(f"{field}: must not be empty")
        elif len(uri) > URI_MAX:
            problems.append(f"{field}: must be at most {URI_MAX} characters")
    for field in ("input_format", "output_format"):
        if spec.get(field) not in FORMATS:
            problems.append(f"{field}: one of {', '.join(FORMATS)}")
    if problems:
        raise ValidationError("job", "; ".join(problems))
    overlap = location_overlap(str(spec["input_uri"]), str(spec["output_uri"]))
    if overlap is not None:
        raise ValidationError("outputUri", overlap)
    return spec


def location_overlap(input_location: str, output_location: str) -> str | None:
    """Why the output would land on the input, or None: the same location, the output under
    the input prefix (a later run would read the outputs as input), or the input under the
    output prefix (writing and cleaning up parts could replace it).

    Locations are compared with the scheme in lower case and without trailing slashes:
    ``S3://b/data/`` is ``s3://b/data``."""
    source, target = _compared(input_location), _compared(output_location)
    if source == target:
        return (
            f"{output_location!r} is the input location; it must differ from the input"
            " (the outputs would mix with it)"
        )
    if target.startswith(source + "/"):
        return (
            f"{output_location!r} is inside the input location {input_location!r}; a later"
            " run would read the outputs as input"
        )
    if source.startswith(target + "/"):
        return (
            f"the input location {input_location!r} is inside the output location"
            f" {output_location!r}; writing the outputs could replace the input"
        )
    return None


def _compared(location: str) -> str:
    scheme, sep, rest = location.strip().partition("://")
    if sep:
        return f"{scheme.lower()}://{rest.rstrip('/')}"
    return location.strip().strip("/")


class BatchJob(Aggregate):
    @event("Created")
    def __init__(
        self,
        name: str,
        version_id: UUID,
        spec: dict[str, Any],
        schedule: dict[str, Any],
        steps: list[dict[str, Any]],
    ) -> None:
        self.name = name
        self.version_id = version_id
        self.spec = spec
        self.schedule = schedule
        self.steps = steps
        self.paused = False
        self.deleted = False
        self.last_scheduled: str | None = None

    @classmethod
    def create(
        cls,
        name: str,
        version_id: UUID,
        spec: dict[str, Any],
        schedule: dict[str, Any],
        steps: list[dict[str, Any]],
    ) -> BatchJob:
        attempts = spec.get("max_attempts", 3)
        if (
            isinstance(attempts, bool)
            or not isinstance(attempts, int)
            or not 1 <= attempts <= MAX_ATTEMPTS
        ):
            raise ValidationError("maxAttempts", f"must be between 1 and {MAX_ATTEMPTS}")
        return cls(
            name=clean_name(name),
            version_id=version_id,
            spec=check_io({**spec, "max_attempts": attempts}),
            schedule=schedule,
            steps=steps,
        )

    def check_live(self) -> None:
        if self.deleted:
            raise AlreadyDeleted("batch job", self.name)

    def update(
        self,
        *,
        spec: dict[str, Any] | None = None,
        schedule: dict[str, Any] | None = None,
        steps: list[dict[str, Any]] | None = None,
        version_id: UUID | None = None,
    ) -> None:
        """Change what later runs do (runs already created keep what they pinned)."""
        self.check_live()
        new_spec = check_io({**self.spec, **(spec or {})})
        self._updated(
            spec=new_spec,
            schedule=schedule if schedule is not None else self.schedule,
            steps=steps if steps is not None else self.steps,
            version_id=version_id or self.version_id,
        )

    @event("Updated")
    def _updated(
        self,
        spec: dict[str, Any],
        schedule: dict[str, Any],
        steps: list[dict[str, Any]],
        version_id: UUID,
    ) -> None:
        self.spec, self.schedule, self.steps, self.version_id = spec, schedule, steps, version_id

    def pause(self) -> None:
        self.check_live()
        if self.paused:
            raise InvalidState("batch job", self.name, "paused", "pause it again")
        self._paused()

    @event("Paused")
    def _paused(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.check_live()
        if not self.paused:
            raise InvalidState("batch job", self.name, "active", "resume it")
        self._resumed()

    @event("Resumed")
    def _resumed(self) -> None:
        self.paused = False

    def mark_scheduled(self, scheduled_at: str) -> None:
        """The scheduler created runs up to this time (misfire handling starts here)."""
        self.check_live()
        if self.last_scheduled is None or scheduled_at > self.last_scheduled:
            self._scheduled_up_to(scheduled_at=scheduled_at)

    @event("ScheduledUpTo")
    def _scheduled_up_to(self, scheduled_at: str) -> None:
        self.last_scheduled = scheduled_at

    def delete(self) -> None:
        self.check_live()
        self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True


class BatchRun(Aggregate):
    """One execution of a job; its id comes from domain.schedule.run_id."""

    @event("Created")
    def __init__(
        self, job_id: UUID, scheduled_at: str, trigger: str, config: dict[str, Any]
    ) -> None:
        self.job_id = job_id
        self.scheduled_at = scheduled_at
        self.trigger = trigger
        self.config = config  # the job's spec, steps and version, pinned for this run
        self.status = RunStatus.PENDING.value
        self.attempt = 0
        self.worker = ""
        self.heartbeat_at = ""
        self.progress: dict[str, Any] = {}
        self.result: dict[str, Any] = {}
        self.reason = ""

    def check_status(self, *allowed: RunStatus, action: str) -> None:
        if self.status not in allowed:
            raise InvalidState("run", str(self.id), self.status.lower(), action)

    def start(self, worker: str, at: str) -> None:
        """Claim the run; a concurrent claim conflicts on the aggregate version."""
        self.check_status(RunStatus.PENDING, action="start it")
        self._started(worker=worker, attempt=self.attempt + 1, at=at)

    @event("Started")
    def _started(self, worker: str, attempt: int, at: str) -> None:
        self.status = RunStatus.RUNNING.value
        self.worker = worker
        self.attempt = attempt
        self.heartbeat_at = at

    def report_progress(self, progress: dict[str, Any], at: str) -> None:
        self.check_status(RunStatus.RUNNING, action="report progress")
        self._progressed(progress=progress, at=at)

    @event("Progressed")
    def _progressed(self, progress: dict[str, Any], at: str) -> None:
        self.progress = progress
        self.heartbeat_at = at

    def complete(self, result: dict[str, Any]) -> None:
        self.check_status(RunStatus.RUNNING, action="complete it")
        self._completed(result=result)

    @event("Completed")
    def _completed(self, result: dict[str, Any]) -> None:
        self.status = RunStatus.COMPLETED.value
        self.result = result

    def fail(self, reason: str) -> None:
        self.check_status(RunStatus.PENDING, RunStatus.RUNNING, action="fail it")
        self._failed(reason=(reason.strip() or "failed")[:4000])

    @event("Failed")
    def _failed(self, reason: str) -> None:
        self.status = RunStatus.FAILED.value
        self.reason = reason

    def abandon(self, reason: str, max_attempts: int) -> None:
        """Its worker died (stale heartbeat): retry, or fail after the last attempt."""
        self.check_status(RunStatus.RUNNING, action="retry it")
        if self.attempt >= max_attempts:
            self.fail(f"{reason}; gave up after {self.attempt} attempts")
        else:
            self._requeued(reason=reason)

    @event("Requeued")
    def _requeued(self, reason: str) -> None:
        self.status = RunStatus.PENDING.value
        self.worker = ""
        self.reason = reason

    def cancel(self) -> None:
        self.check_status(RunStatus.PENDING, RunStatus.RUNNING, action="cancel it")
        self._cancelled()

    @event("Cancelled")
    def _cancelled(self) -> None:
        self.status = RunStatus.CANCELLED.value
