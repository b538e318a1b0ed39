"""The roll-up against SQLite and PostgreSQL: additive writes, several processes adding
up, both tiers from the same deltas, and retention."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.adapters.sql.port import Database
from app.bootstrap import open_database
from app.monitoring import store
from app.monitoring.recorder import Recorder
from app.monitoring.rollup import Rollup, Tier
from app.monitoring.series import plan, series

TIERS = [Tier(10, 3600), Tier(60, 86_400)]
T0 = 1_800_000_000  # a multiple of 10 and 60


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database, events = open_database(database_url)
    await database.open()
    try:
        await store.setup(database)
        yield database
    finally:
        await events.close()
        await database.close()


def _rollup(db: Database, process: str) -> tuple[Recorder, Rollup]:
    recorder = Recorder()
    return recorder, Rollup(db, recorder, TIERS, process=process)


async def test_flushes_write_deltas_and_add_into_the_same_interval(db: Database) -> None:
    recorder, rollup = _rollup(db, "p1")
    for _ in range(3):
        recorder.record("svc", "svc-name", 1, 200, 0.01)
    recorder.record("svc", "svc-name", 1, 404, 0.001)
    recorder.model_loaded("svc", "svc-name", 1, 0.75)
    await rollup.flush(T0 + 1)
    recorder.record("svc", "svc-name", 1, 200, 0.02)
    await rollup.flush(T0 + 5)  # the same 10 s interval: adds, does not replace
    await rollup.flush(T0 + 12)  # nothing new for svc: no service row in the next interval

    rows = [p for p in await store.read(db, 10, "svc", T0, T0 + 20) if p.service_id]
    assert len(rows) == 1
    (row,) = rows
    assert (row.start_at, row.process, row.version, row.service) == (T0, "p1", 1, "svc-name")
    assert row.statuses == [0, 4, 0, 1, 0]
    assert sum(row.buckets) == 5 and row.latency_sum == pytest.approx(0.051)
    assert row.load_seconds == 0.75
    process_rows = [p for p in await store.read(db, 10, "svc", T0, T0 + 20) if not p.service_id]
    assert {p.start_at for p in process_rows} == {T0, T0 + 10}
    assert all(p.memory_bytes > 0 for p in process_rows)

    (coarse,) = [p for p in await store.read(db, 60, "svc", T0, T0 + 60) if p.service_id]
    assert coarse.statuses == row.statuses and coarse.buckets == row.buckets


async def test_two_processes_add_up(db: Database) -> None:
    first, one = _rollup(db, "server-a")
    second, two = _rollup(db, "server-b")
    for _ in range(10):
        first.record("svc", "svc-name", 2, 200, 0.001)
    for _ in range(30):
        second.record("svc", "svc-name", 2, 200, 0.1)
    second.record("svc", "svc-name", 2, 500, 0.2)
    await one.flush(T0 + 3)
    await two.flush(T0 + 4)

    window = plan(T0, T0 + 10, 10, TIERS, T0 + 10, 1000)
    (sample,) = series(await store.read(db, 10, "svc", T0, T0 + 10), window)[2]
    assert sample.requests == 41 and sample.statuses[4] == 1
    assert sample.throughput == pytest.approx(4.1)
    # The merged histogram: a quarter of the requests at 1 ms, the rest at 100-200 ms.
    p10, p50 = sample.quantile(0.1), sample.quantile(0.5)
    assert p10 is not None and p10 < 0.0011
    assert p50 is not None and 0.09 < p50 < 0.11
    assert sample.memory_bytes is not None and sample.cpu_seconds is not None


async def test_retention_drops_old_fine_rows_and_keeps_coarse_ones(db: Database) -> None:
    recorder, rollup = _rollup(db, "p1")
    recorder.record("svc", "svc-name", 1, 200, 0.01)
    await rollup.flush(T0)
    recorder.record("svc", "svc-name", 1, 200, 0.01)
    await rollup.flush(T0 + 7200)  # two hours later: past the 10 s tier's hour

    fine = [p for p in await store.read(db, 10, "svc", 0, T0 + 10_000) if p.service_id]
    assert [p.start_at for p in fine] == [T0 + 7200]
    coarse = [p for p in await store.read(db, 60, "svc", 0, T0 + 10_000) if p.service_id]
    assert [p.start_at for p in coarse] == [T0, T0 + 7200]

    await rollup.flush(T0 + 86_400 + 7260)  # over a day later: the coarse rows expire too
    coarse = [p for p in await store.read(db, 60, "svc", 0, T0 + 10**6) if p.service_id]
    assert coarse == []


async def test_a_failed_write_is_offered_again(db: Database) -> None:
    recorder, rollup = _rollup(db, "p1")
    recorder.record("svc", "svc-name", 1, 200, 0.01)
    await db.script([f"DROP TABLE {store.TABLE}"])
    with pytest.raises(Exception):  # noqa: B017 - either driver's "no such table"
        await rollup.flush(T0)
    await store.setup(db)
    await rollup.flush(T0)
    (row,) = [p for p in await store.read(db, 10, "svc", T0, T0 + 10) if p.service_id]
    assert row.statuses[1] == 1
