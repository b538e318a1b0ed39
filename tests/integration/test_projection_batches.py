"""Read models applied in batches (grouped statements, slices sent while the next are
handled) come out the same as applied one event per transaction, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from app.adapters.event_store.port import EventMeta
from app.bootstrap import Container, all_projections, build
from app.services import applier, projector
from app.settings import Settings
from domain.batch import BatchJob, BatchRun
from domain.optimization import OptimizationJob
from domain.schedule import parse_schedule
from domain.service import Service, deployment
from domain.training import TrainingTask
from projections.audit import AuditProjection
from projections.base import EventInfo, Handler, Writer
from tests.integration.test_projections import exercise

META = EventMeta(actor="tester", request_id="r-1")
SPEC = {
    "input_uri": "s3://b/in/data.csv",
    "input_format": "CSV",
    "output_uri": "s3://b/out/",
    "output_format": "JSONL",
}
AT = "2026-01-01T00:00:00Z"
SCHEDULE = parse_schedule("PERIODIC", "every 6h", datetime(2026, 1, 1, tzinfo=UTC), "UTC").to_dict()


@pytest.fixture
async def container(database_url: str, tmp_path: Any) -> AsyncIterator[Container]:
    built = await build(Settings(data_dir=tmp_path, database_url=database_url))
    try:
        yield built
    finally:
        await built.close()


async def dump_all(container: Container) -> dict[str, list[tuple[Any, ...]]]:
    tables = {}
    for projection in all_projections():
        for table in projection.tables:
            rows = await container.db.fetch(f"SELECT * FROM {table}")
            tables[table] = sorted(tuple(sorted(r.items(), key=str)) for r in rows)
    return tables


async def interleaved_history(container: Container) -> None:
    """Events of several objects of every read model, one object's after another's, in
    many appends: reads in handlers (training, batch, optimizations), a name that passes
    from a deleted service to a new one, rows written and deleted again."""
    save = container.repository.save
    await exercise(container)
    tasks = [TrainingTask.create(f"task-{i}", "pytorch", f"s3://b/t{i}") for i in range(3)]
    await save(*tasks, meta=META)
    for step in range(4):
        for i, task in enumerate(tasks):
            task.report_metrics({"loss": 1.0 / (step + i + 1), f"m{step}": float(i)}, step)
        await save(*tasks, meta=META)
    tasks[0].finish(True, "done")
    tasks[1].finish(False, "failed")
    await save(*tasks, meta=META)

    jobs = [BatchJob.create(f"job-{i}", uuid4(), SPEC, SCHEDULE, []) for i in range(2)]
    await save(*jobs, meta=META)
    jobs[0].pause()
    jobs[1].mark_scheduled(AT)
    jobs[0].resume()
    runs = [BatchRun(job.id, AT, "schedule", {}) for job in jobs]
    await save(*jobs, *runs, meta=META)
    for run in runs:
        run.start("w-1", AT)
        run.report_progress({"rows": 10}, AT)
    runs[0].complete({"rows": 20})
    runs[1].fail("broken")
    jobs[1].delete()
    await save(*runs, jobs[1], meta=META)

    optimizations = [
        OptimizationJob.request(uuid4(), uuid4(), "ONNX", ["ONNX_FP16"], f"opt-{i}", {})
        for i in range(2)
    ]
    await save(*optimizations, meta=META)
    for job in optimizations:
        job.start("w-1", AT)
    for n in range(3):
        for job in optimizations:
            job.record(f"step {n}", n / 3, AT)
        await save(*optimizations, meta=META)
    optimizations[0].succeed(uuid4(), {"speedup": 2.0})
    optimizations[1].fail("no gain", {"speedup": 0.9})
    await save(*optimizations, meta=META)

    entries = [deployment(uuid4(), uuid4(), n + 1, weight=50) for n in range(2)]
    first = Service.publish("svc-a", "host-a", "hash-a", entries)
    second = Service.publish("svc-b", "host-b", "hash-b", [{**entries[0], "weight": 100}])
    await save(first, second, meta=META)
    first.set_traffic({str(entries[0]["version_id"]): 100, str(entries[1]["version_id"]): 0})
    first.rotate_key("hash-a2")
    second.delete()
    await save(first, second, meta=META)
    again = Service.publish("svc-b", "host-b", "hash-c", [{**entries[1], "weight": 100}])
    await save(again, meta=META)
    await container.projector.catch_up()


async def test_batches_and_slices_give_what_one_event_at_a_time_gives(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await interleaved_history(container)
    live = await dump_all(container)
    assert live["rm_services"] and live["rm_batch_runs"] and live["rm_training_metrics"]
    last = await container.store.last_position()

    monkeypatch.setattr(projector, "CATCH_UP_BATCH", 1)  # one event per transaction
    assert await container.projector.rebuild() == last
    assert await dump_all(container) == live

    monkeypatch.setattr(projector, "CATCH_UP_BATCH", 10_000)  # the log in one batch ...
    monkeypatch.setattr(applier, "SLICE", 7)  # ... sent in slices while handling the next
    assert await container.projector.rebuild() == last
    assert await dump_all(container) == live

    monkeypatch.setattr(projector, "CATCH_UP_BATCH", 13)  # read ahead batch by batch
    assert await container.projector.rebuild() == last
    assert await dump_all(container) == live


async def test_a_rebuild_creates_the_indexes_after_the_rows(container: Container) -> None:
    await interleaved_history(container)
    before = await dump_all(container)
    await container.projector.rebuild(["audit"])
    state = await container.db.fetch("SELECT name, schema_hash FROM projection_state")
    hashes = {r["name"]: r["schema_hash"] for r in state}
    assert hashes["audit"] == projector.schema_hash(
        next(p for p in all_projections() if p.name == "audit")
    )
    assert await dump_all(container) == before
    assert await audit_indexes(container) >= {"rm_audit_actor", "rm_audit_originator"}


async def test_a_start_after_a_rebuild_that_stopped_creates_its_indexes(
    container: Container,
) -> None:
    """As a rebuild leaves the audit log until its indexes are built: rows applied part
    way, no secondary indexes, the state row marked unindexed."""
    await interleaved_history(container)
    before = await dump_all(container)
    audit = next(p for p in all_projections() if p.name == "audit")
    await container.db.script(["DROP INDEX rm_audit_actor", "DROP INDEX rm_audit_originator"])
    await container.db.script(
        [
            "DELETE FROM rm_audit WHERE position > 5",
            "UPDATE rm_audit SET reason = 'kept' WHERE position = 1",  # to see it is not rebuilt
        ]
    )
    async with container.db.transaction() as tx:
        await tx.execute(
            "UPDATE projection_state SET position = 5, schema_hash = $1 WHERE name = 'audit'",
            projector.schema_hash(audit) + projector.UNINDEXED,
        )
    restarted = await build(container.settings)
    try:
        assert await audit_indexes(restarted) >= {"rm_audit_actor", "rm_audit_originator"}
        assert await restarted.db.fetchval("SELECT reason FROM rm_audit WHERE position = 1") == (
            "kept"
        )
        await restarted.db.script(["UPDATE rm_audit SET reason = NULL WHERE position = 1"])
        assert await dump_all(restarted) == before  # caught up from where it stopped
        hashes = await restarted.db.fetch("SELECT schema_hash FROM projection_state")
        assert not any(r["schema_hash"].endswith(projector.UNINDEXED) for r in hashes)
    finally:
        await restarted.close()


async def audit_indexes(container: Container) -> set[str]:
    if container.db.dialect == "postgres":
        sql = "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'rm_audit'"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'rm_audit'"
    return {r["name"] for r in await container.db.fetch(sql)}


class FailingAudit(AuditProjection):
    """The audit log, with a handler that fails at one position."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at

    def handlers(self) -> dict[str, Handler]:
        async def fail(tx: Writer, e: Any, info: EventInfo) -> None:
            if info.position == self.fail_at:
                raise RuntimeError("handler failed")

        return {"ModelVersion.Imported": fail}


async def test_a_handler_failing_while_a_slice_is_sent_leaves_nothing(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 10 events in slices of 3: the failure comes while the slices before it
    are being sent; its transaction rolls back whole and the connection stays usable."""
    await interleaved_history(container)
    before = await dump_all(container)
    last = await container.store.last_position()
    at = await container.db.fetchval(
        "SELECT max(position) FROM events WHERE topic LIKE $1", "%ModelVersion.Imported"
    )
    monkeypatch.setattr(projector, "CATCH_UP_BATCH", 10)
    monkeypatch.setattr(applier, "SLICE", 3)
    failing = FailingAudit(fail_at=at)
    projections = [failing if p.name == "audit" else p for p in all_projections()]
    other = projector.Projector(container.db, container.store, container.mapper, projections)
    await other.setup()
    with pytest.raises(RuntimeError, match="handler failed"):
        await other.rebuild(["audit"])
    reached = await container.db.fetchval(
        "SELECT position FROM projection_state WHERE name = $1", "audit"
    )
    assert at - 10 <= reached < at  # the batches before the failing one were committed
    assert await container.db.fetchval("SELECT max(position) FROM rm_audit") == reached
    failing.fail_at = -1
    assert await other.catch_up() == last
    assert await dump_all(container) == before
