"""The batch service on the in-memory event store: schedules become runs exactly once,
claims have one winner, bad jobs are refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from app.adapters.event_store.port import EventMeta
from app.bootstrap import Container
from app.services.batch_jobs import BatchService
from app.services.models import VersionSpec
from domain.batch import BatchRun, RunStatus
from domain.errors import AlreadyDeleted, InvalidState, ValidationError
from domain.version import FileEntry, FileSet, ModelVersion

META = EventMeta(actor="t")
SPEC = {
    "input_uri": "s3://bucket/in.csv",
    "input_format": "CSV",
    "output_uri": "s3://bucket/out/",
    "output_format": "CSV",
}


async def _setup(container: Container) -> tuple[BatchService, str]:
    models = container.models
    _, version = await models.import_model(
        "m", VersionSpec("ONNX", source={"kind": "upload", "uri": "m.onnx"}), meta=META
    )
    files = FileSet(prefix="p", files=(FileEntry("m.onnx", 1, "0" * 64),))
    await models.change_version(version.id, lambda v: v.complete_import(files), meta=META)
    return container.batch, str(version.id)


async def test_periodic_jobs_create_each_run_once_even_with_two_schedulers(
    container: Container,
) -> None:
    service, version = await _setup(container)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    job = await service.create_job(
        "hourly",
        version,
        SPEC,
        {"kind": "PERIODIC", "expression": "every 1h", "start": start, "time_zone": "UTC"},
        [],
        meta=META,
    )
    now = start + timedelta(minutes=30)
    counts = await asyncio.gather(*(service.schedule_due(job.id, now, meta=META) for _ in range(2)))
    assert sum(counts) == 1  # the run at the start time, created by one of them
    later = start + timedelta(hours=1, seconds=10)
    assert await service.schedule_due(job.id, later, meta=META) == 1
    assert await service.schedule_due(job.id, later, meta=META) == 0


async def test_a_run_has_one_claimant(container: Container) -> None:
    service, version = await _setup(container)
    job = await service.create_job("once", version, SPEC, {"kind": "ONCE"}, [], meta=META)
    run = await service.trigger(job.id, meta=META)
    claims = await asyncio.gather(*(service.claim(run.id, f"w{i}", meta=META) for i in range(8)))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1 and winners[0].status == RunStatus.RUNNING


@pytest.mark.parametrize(
    ("schedule", "needle"),
    [
        ({"kind": "PERIODIC", "expression": "* * * * * *"}, "6"),
        ({"kind": "PERIODIC", "expression": "*/0 * * * *"}, "0"),
        ({"kind": "PERIODIC", "expression": "0 0 30 2 *"}, "February 30"),
        ({"kind": "PERIODIC", "expression": "every 1s"}, "minute"),
        ({"kind": "ONCE", "time_zone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"kind": "ONCE", "misfire": "MAYBE"}, "RUN_ONCE or SKIP"),
    ],
)
async def test_bad_schedules(schedule: dict[str, Any], needle: str, container: Container) -> None:
    service, version = await _setup(container)
    with pytest.raises(ValidationError, match=needle):
        await service.create_job("bad", version, SPEC, schedule, [], meta=META)


async def test_a_deleted_version_cannot_run_jobs(container: Container) -> None:
    service, version = await _setup(container)
    stored = await service.repo.get(UUID(version), ModelVersion, kind="version")
    stored.delete()
    await service.repo.save(stored, meta=META)
    with pytest.raises(AlreadyDeleted, match="deleted"):
        await service.create_job("late", version, SPEC, {"kind": "ONCE"}, [], meta=META)


async def test_cancel_and_final_states(container: Container) -> None:
    service, version = await _setup(container)
    job = await service.create_job("once", version, SPEC, {"kind": "ONCE"}, [], meta=META)
    run = await service.trigger(job.id, meta=META)
    cancelled = await service.cancel_run(run.id, meta=META)
    assert cancelled.status == RunStatus.CANCELLED
    with pytest.raises(InvalidState):
        await service.cancel_run(run.id, meta=META)
    assert await service.claim(run.id, "w", meta=META) is None
    assert isinstance(cancelled, BatchRun)
