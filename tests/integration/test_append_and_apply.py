"""On PostgreSQL an uncontended command appends its events and applies them to the read
models in one transaction, at the positions and time the append gives them; when they do
not follow the projector's position nothing of it is written and the command goes the
usual way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.adapters.event_store.port import EventMeta
from app.bootstrap import Container, build
from app.services.models import VersionSpec
from app.services.projector import FALLBACK_SKIPS
from app.settings import Settings
from domain.model import Model, ModelList
from projections.versions import get_versions
from tests.conftest import _empty_schema, run_sync
from tests.integration.test_projections import dump
from tests.unit.fakes import spy

META = EventMeta(actor="tester")


@pytest.fixture
async def container(pg_url: str, tmp_path: Path) -> AsyncIterator[Container]:
    run_sync(_empty_schema(pg_url))
    built = await build(Settings(data_dir=tmp_path, database_url=pg_url))
    try:
        yield built
    finally:
        await built.close()


async def positions_and_times(container: Container) -> list[tuple[int, datetime]]:
    rows = await container.db.fetch("SELECT position, recorded_at FROM events ORDER BY position")
    return [(r["position"], r["recorded_at"]) for r in rows]


async def test_an_uncontended_command_appends_and_projects_in_one_transaction(
    container: Container,
) -> None:
    model, _ = await container.models.import_model("m", VersionSpec("ONNX"), meta=META)
    records = spy(container.store, "record")
    transactions: list[dict[str, Any]] = []
    opened = container.db.transaction

    def transaction(**options: Any) -> Any:
        transactions.append(options)
        return opened(**options)

    container.db.transaction = transaction  # type: ignore[method-assign]
    _, version = await container.models.import_version(model.id, VersionSpec("PMML"), meta=META)
    assert records == []  # not appended the usual way
    assert transactions == [{}]  # but with its projection, in one
    vid = str(version.id)
    assert container.created_versions.take(vid) == (await get_versions(container.db, [vid]))[vid]
    log = await positions_and_times(container)
    assert [p for p, _ in log] == list(range(1, len(log) + 1))
    assert container.projector.position == log[-1][0]
    state = await container.db.fetch("SELECT DISTINCT position FROM projection_state")
    assert [r["position"] for r in state] == [log[-1][0]]
    before = await dump(container.db)
    await container.projector.rebuild()
    assert await dump(container.db) == before


async def test_another_writer_first_makes_the_command_go_the_usual_way(
    container: Container,
) -> None:
    """As another process would: an event appended here without this projector."""
    model, _ = await container.models.import_model("m", VersionSpec("ONNX"), meta=META)
    quiet = Model.register("quiet", ModelList.ORIGINAL, None, {})
    await container.repository.save(quiet, meta=META)  # appended, not projected
    records = spy(container.store, "record")
    await container.models.import_version(model.id, VersionSpec("ONNX"), meta=META)
    assert len(records) == 1  # not right after the projector's position: the usual way
    names = {r["name"] for r in await container.db.fetch("SELECT name FROM rm_models")}
    assert names == {"m", "quiet"}
    for _ in range(FALLBACK_SKIPS):
        await container.models.import_version(model.id, VersionSpec("ONNX"), meta=META)
    assert len(records) == 1 + FALLBACK_SKIPS  # the usual way for a while
    await container.models.import_version(model.id, VersionSpec("ONNX"), meta=META)
    assert len(records) == 1 + FALLBACK_SKIPS  # then in one transaction again
    numbers = await container.db.fetch(
        "SELECT number FROM rm_versions WHERE model_id = $1 ORDER BY number", str(model.id)
    )
    assert [r["number"] for r in numbers] == list(range(1, FALLBACK_SKIPS + 4))
    log = await positions_and_times(container)
    assert len(log) == len({p for p, _ in log})  # the failed attempt wrote nothing
    assert [t for _, t in log] == sorted(t for _, t in log)


async def test_a_taken_version_is_a_conflict_and_the_command_is_retried(
    container: Container,
) -> None:
    """The cached model is stale (another process changed it): the append conflicts."""
    model, _ = await container.models.import_model("m", VersionSpec("ONNX"), meta=META)
    stale = await container.repository.find(model.id, Model)
    assert stale is not None
    stale.update_description("changed elsewhere")
    await container.store.record(
        [container.mapper.to_new_event(e) for e in stale.collect_events()], META
    )
    _, version = await container.models.import_version(model.id, VersionSpec("ONNX"), meta=META)
    assert version.number == 2
    row = await container.db.fetchrow(
        "SELECT description, version_count FROM rm_models WHERE id = $1", str(model.id)
    )
    assert row == {"description": "changed elsewhere", "version_count": 2}


async def test_a_clock_behind_the_last_event_keeps_time_order_in_one_transaction(
    container: Container,
) -> None:
    """The append gives the events the last event's time; the read models get it too."""
    model, _ = await container.models.import_model("m", VersionSpec("ONNX"), meta=META)
    ahead = datetime.now(UTC) + timedelta(minutes=5)
    await container.db.script(
        [
            f"UPDATE events SET recorded_at = '{ahead.isoformat()}' WHERE position = "
            "(SELECT max(position) FROM events)"
        ]
    )
    records = spy(container.store, "record")
    _, version = await container.models.import_version(model.id, VersionSpec("ONNX"), meta=META)
    assert records == []  # appended with its projection, at the time the store gave it
    log = await positions_and_times(container)
    assert log[-1][1] == ahead  # never earlier than the event before
    row = (await get_versions(container.db, [str(version.id)]))[str(version.id)]
    assert row.created_at == ahead


async def test_concurrent_commands_append_the_usual_way(container: Container) -> None:
    first, _ = await container.models.import_model("a", VersionSpec("ONNX"), meta=META)
    second, _ = await container.models.import_model("b", VersionSpec("ONNX"), meta=META)
    records = spy(container.store, "record")
    await asyncio.gather(
        *(
            container.models.import_version(model.id, VersionSpec("ONNX"), meta=META)
            for model in (first, second, first, second)
        )
    )
    assert len(records) >= 3  # the first may go alone; the others run beside it
    counts = await container.db.fetch("SELECT name, version_count FROM rm_models ORDER BY name")
    assert [(r["name"], r["version_count"]) for r in counts] == [("a", 3), ("b", 3)]
