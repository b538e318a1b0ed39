"""Application service for batch jobs and runs: create, change, trigger, schedule, claim."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.adapters.event_store.port import ConcurrencyConflict, EventMeta
from app.adapters.object_store.uri import parse_object_uri
from app.services.ids import parse_id
from app.services.projector import ReadModelSync
from app.services.repository import Commands, Repository
from domain.batch import BatchJob, BatchRun, RunStatus
from domain.errors import ValidationError
from domain.schedule import MisfirePolicy, Schedule, due_runs, parse_schedule, run_id
from domain.version import ModelVersion

StepsParser = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def _check_locations(spec: dict[str, Any]) -> None:
    """A location a run could not open (not an s3:// or cos:// URI: file://, http://, a bare
    path) is refused when the job is created or changed, not when it runs. Checked as the
    worker reads it (app.batch.worker)."""
    for key, field in (("input_uri", "inputUri"), ("output_uri", "outputUri")):
        location = spec.get(key)
        if location:  # an empty one is the job's to refuse
            try:
                parse_object_uri(str(location))
            except ValueError as exc:
                raise ValidationError(field, str(exc)) from None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class BatchService:
    def __init__(
        self, repository: Repository, projector: ReadModelSync, parse_steps: StepsParser
    ) -> None:
        self.repo = repository
        self.parse_steps = parse_steps
        self.commands = Commands(repository, projector)

    async def _version(self, version_ref: str | UUID) -> ModelVersion:
        version = await self.repo.get(
            parse_id(version_ref, "versionId"), ModelVersion, kind="version"
        )
        version.check_ready("run batch predictions with it")
        return version

    def _schedule(self, raw: dict[str, Any]) -> dict[str, Any]:
        zone_name = raw.get("time_zone") or "UTC"
        start = raw.get("start") or datetime.now(UTC)
        if start.tzinfo is None:
            # A start without an offset is wall-clock time in the job's zone (so a time in
            # a daylight-saving gap is caught).
            with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
                start = start.replace(tzinfo=ZoneInfo(zone_name))
        schedule = parse_schedule(raw.get("kind", "ONCE"), raw.get("expression"), start, zone_name)
        policy = raw.get("misfire", MisfirePolicy.RUN_ONCE.value)
        if policy not in {p.value for p in MisfirePolicy}:
            raise ValidationError("misfirePolicy", "RUN_ONCE or SKIP")
        concurrency = raw.get("concurrency", "FORBID")
        if concurrency not in ("FORBID", "ALLOW"):
            raise ValidationError("concurrencyPolicy", "FORBID or ALLOW")
        return {**schedule.to_dict(), "misfire": policy, "concurrency": concurrency}

    async def create_job(
        self,
        name: str,
        version_id: str | UUID,
        spec: dict[str, Any],
        schedule: dict[str, Any],
        steps: list[dict[str, Any]],
        *,
        meta: EventMeta,
    ) -> BatchJob:
        version = await self._version(version_id)
        _check_locations(spec)
        job = BatchJob.create(
            name, version.id, spec, self._schedule(schedule), self.parse_steps(steps)
        )
        await self.commands.save(job, meta=meta)
        return job

    async def change_job(
        self, job_ref: str | UUID, change: Callable[[BatchJob], Any], *, meta: EventMeta
    ) -> BatchJob:
        jid = parse_id(job_ref, "jobId")
        job, _ = await self.commands.change(jid, BatchJob, "batch job", change, meta=meta)
        return job

    async def update_job(
        self,
        job_ref: str | UUID,
        *,
        spec: dict[str, Any] | None = None,
        schedule: dict[str, Any] | None = None,
        steps: list[dict[str, Any]] | None = None,
        version_id: str | None = None,
        meta: EventMeta,
    ) -> BatchJob:
        _check_locations(spec or {})
        new_version = (await self._version(version_id)).id if version_id else None
        new_schedule = self._schedule(schedule) if schedule is not None else None
        new_steps = self.parse_steps(steps) if steps is not None else None
        return await self.change_job(
            job_ref,
            lambda j: j.update(
                spec=spec, schedule=new_schedule, steps=new_steps, version_id=new_version
            ),
            meta=meta,
        )

    async def trigger(self, job_ref: str | UUID, *, meta: EventMeta) -> BatchRun:
        """Run now, whatever the schedule."""
        job = await self.repo.get(parse_id(job_ref, "jobId"), BatchJob, kind="batch job")
        job.check_live()
        run = await self._create_run(job, datetime.now(UTC), "manual", meta=meta)
        if run is None:  # the same microsecond twice: practically never
            raise ValidationError("jobId", "a run for this moment exists already")
        return run

    async def _create_run(
        self, job: BatchJob, scheduled_at: datetime, trigger: str, *, meta: EventMeta
    ) -> BatchRun | None:
        config = {"version_id": str(job.version_id), "spec": job.spec, "steps": job.steps}
        run = BatchRun._create(
            BatchRun.Created,
            id=run_id(job.id, scheduled_at),
            job_id=job.id,
            scheduled_at=_iso(scheduled_at),
            trigger=trigger,
            config=config,
        )
        try:
            await self.commands.save(run, meta=meta)
        except ConcurrencyConflict:
            return None  # another scheduler created it: run ids are deterministic
        return run

    async def schedule_due(self, job_ref: str | UUID, now: datetime, *, meta: EventMeta) -> int:
        """Create the runs that are due for a job (misfire policy applied); returns how many."""
        job = await self.repo.get(parse_id(job_ref, "jobId"), BatchJob, kind="batch job")
        if job.deleted or job.paused:
            return 0
        schedule = Schedule.from_dict(job.schedule)
        last = datetime.fromisoformat(job.last_scheduled) if job.last_scheduled else None
        policy = MisfirePolicy(job.schedule.get("misfire", MisfirePolicy.RUN_ONCE))
        created = 0
        for moment in due_runs(schedule, last, now, policy):
            if await self._create_run(job, moment, "schedule", meta=meta) is not None:
                created += 1
        # The watermark is the latest run time processed (created or skipped), so a job
        # gets an event per run time, not one per scheduler pass.
        latest = schedule.latest(last, now)
        watermark = _iso(latest) if latest is not None else None
        if watermark and (job.last_scheduled is None or watermark > job.last_scheduled):
            await self.change_job(job.id, lambda j: j.mark_scheduled(watermark), meta=meta)
        return created

    async def change_run(
        self, run_ref: str | UUID, change: Callable[[BatchRun], Any], *, meta: EventMeta
    ) -> BatchRun:
        rid = parse_id(run_ref, "runId")
        run, _ = await self.commands.change(rid, BatchRun, "run", change, meta=meta)
        return run

    async def claim(self, run_ref: str | UUID, worker: str, *, meta: EventMeta) -> BatchRun | None:
        """Start a run for this worker; None when another worker got it first."""
        run = await self.repo.get(parse_id(run_ref, "runId"), BatchRun, kind="run")
        if run.status != RunStatus.PENDING:
            return None
        run.start(worker, _iso(datetime.now(UTC)))
        try:
            await self.commands.save(run, meta=meta)
        except ConcurrencyConflict:
            return None
        return run

    async def cancel_run(self, run_ref: str | UUID, *, meta: EventMeta) -> BatchRun:
        return await self.change_run(run_ref, BatchRun.cancel, meta=meta)

    async def delete_job(self, job_ref: str | UUID, *, meta: EventMeta) -> BatchJob:
        return await self.change_job(job_ref, BatchJob.delete, meta=meta)
