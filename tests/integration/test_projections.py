"""Read models on real databases: rebuilt from the log they come out identical."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.adapters.event_store.port import EventMeta
from app.adapters.sql.port import Database
from app.bootstrap import Container, all_projections, build
from app.services.models import VersionSpec
from app.services.projector import Projector, stop
from app.settings import Settings
from domain.model import Model, ModelList
from projections.versions import VersionsProjection, get_versions
from tests.unit.fakes import spy

META = EventMeta(actor="tester")
TABLES = ("rm_models", "rm_model_tags", "rm_versions", "rm_audit", "rm_tokens")


async def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    tables = {}
    for table in TABLES:
        rows = await db.fetch(f"SELECT * FROM {table}")
        tables[table] = sorted(tuple(sorted(r.items())) for r in rows)
    return tables


async def exercise(container: Container) -> None:
    """A mix of every kind of change, some concurrent."""
    models = container.models
    ids = []
    for i in range(6):
        model, _ = await models.import_model(
            f"model-{i}", VersionSpec("ONNX"), tags={"i": str(i)}, meta=META
        )
        ids.append(model.id)
    await asyncio.gather(
        *(models.import_version(ids[i % 3], VersionSpec("PMML"), meta=META) for i in range(12))
    )
    await models.edit_tags(ids[0], [("team", "cv"), ("stage", "prod")], meta=META)
    await models.update_description(ids[1], "described", meta=META)
    _, version = await models.import_version(ids[2], VersionSpec("TORCHSCRIPT"), meta=META)
    await models.delete_version(version.id, meta=META)
    await models.delete_model(ids[3], meta=META)
    await models.import_model("model-3", VersionSpec("ONNX"), meta=META)
    _, token = await container.tokens.create("t", "viewer", meta=META)
    await container.tokens.revoke(token.id, meta=META)


@pytest.fixture
async def container(database_url: str, tmp_path: Any) -> AsyncIterator[Container]:
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    built = await build(settings)
    try:
        yield built
    finally:
        await built.close()


async def test_rebuild_gives_identical_read_models(container: Container) -> None:
    await exercise(container)
    before = await dump(container.db)
    assert len(before["rm_models"]) == 6
    assert len(before["rm_audit"]) == await container.store.last_position()

    position = await container.projector.rebuild()
    assert position == await container.store.last_position()
    assert await dump(container.db) == before

    await container.projector.rebuild(["versions"])
    assert await dump(container.db) == before


async def test_two_processes_writing_at_once_claim_and_lock_positions_without_deadlock(
    container: Container,
) -> None:
    """Commands of two containers (as two processes) on one database, at once: their
    claims (alone: append and project in one transaction; concurrent: project apart) and
    their locked catch-ups of each other's events take the position rows in whatever
    order they come; none waits on the other in a cycle, every event is applied once."""
    other = await build(container.settings)
    try:
        first, _ = await container.models.import_model("a", VersionSpec("ONNX"), meta=META)
        second, _ = await other.models.import_model("b", VersionSpec("ONNX"), meta=META)

        async def writes(side: Container, model_id: Any, count: int) -> None:
            for _ in range(count):
                await side.models.import_version(model_id, VersionSpec("ONNX"), meta=META)

        async with asyncio.timeout(60):
            await asyncio.gather(
                writes(container, first.id, 40),
                writes(other, second.id, 40),
                *(
                    container.models.import_version(first.id, VersionSpec("PMML"), meta=META)
                    for _ in range(8)
                ),
                *(
                    other.models.import_version(second.id, VersionSpec("PMML"), meta=META)
                    for _ in range(8)
                ),
                other.projector.catch_up(),
                container.projector.catch_up(),
            )
            await asyncio.gather(container.projector.catch_up(), other.projector.catch_up())
        tables = await dump(container.db)
        # (Positions may skip numbers: appends that failed drew theirs.)
        assert len(tables["rm_audit"]) == await container.db.fetchval("SELECT COUNT(*) FROM events")
        assert len(tables["rm_versions"]) == 2 * (1 + 40 + 8)
        await container.projector.rebuild()
        assert await dump(container.db) == tables
    finally:
        await other.close()


async def test_rebuild_refuses_unknown_projection_names(container: Container) -> None:
    with pytest.raises(ValueError, match="unknown projections: nope"):
        await container.projector.rebuild(["nope"])


async def test_a_second_projector_on_the_same_database_applies_nothing_twice(
    container: Container, tmp_path: Any
) -> None:
    """Two projectors (as in two processes) race over the same log."""
    other = await build(container.settings)
    try:
        await exercise(container)
        await asyncio.gather(
            other.projector.catch_up(), container.projector.catch_up(), other.projector.catch_up()
        )
        tables = await dump(container.db)
        assert len(tables["rm_audit"]) == await container.store.last_position()
        await container.projector.rebuild()
        assert await dump(container.db) == tables
    finally:
        await other.close()


async def test_a_changed_read_model_is_rebuilt_at_start(container: Container) -> None:
    await exercise(container)
    before = await dump(container.db)

    class WiderVersions(VersionsProjection):
        ddl = (
            *VersionsProjection.ddl,
            "CREATE INDEX IF NOT EXISTS rm_v_status ON rm_versions (status)",
        )

    projections = [WiderVersions() if p.name == "versions" else p for p in all_projections()]
    changed = Projector(container.db, container.store, container.mapper, projections)
    await changed.setup()
    state = {
        r["name"]: r["position"]
        for r in await container.db.fetch("SELECT name, position FROM projection_state")
    }
    assert state["versions"] == 0 and state["models"] > 0
    assert await container.db.fetch("SELECT * FROM rm_versions") == []
    await changed.catch_up()
    assert await dump(container.db) == before


async def test_commands_project_their_own_events_without_reading_the_log(
    container: Container,
) -> None:
    model, _ = await container.models.import_model("m", VersionSpec("ONNX"), meta=META)
    reads = spy(container.store, "read_log")
    for _ in range(3):
        await container.models.import_version(model.id, VersionSpec("ONNX"), meta=META)
    assert reads == []
    rows = await container.db.fetch(
        "SELECT number FROM rm_versions WHERE model_id = $1", str(model.id)
    )
    assert sorted(r["number"] for r in rows) == [1, 2, 3, 4]


async def test_an_event_in_between_that_nobody_projected_is_read_from_the_log(
    container: Container,
) -> None:
    """Appended and not projected (as by another process whose projector is behind)."""
    unprojected = Model.register("quiet", ModelList.ORIGINAL, None, {})
    await container.repository.save(unprojected, meta=META)
    reads = spy(container.store, "read_log")
    await container.models.import_model("loud", VersionSpec("ONNX"), meta=META)
    assert len(reads) == 1
    names = {r["name"] for r in await container.db.fetch("SELECT name FROM rm_models")}
    assert names == {"quiet", "loud"}


async def test_the_follower_is_not_woken_by_this_process_appends(container: Container) -> None:
    rounds = spy(container.store, "last_position")
    follower = asyncio.create_task(container.projector.run(interval=60))
    try:
        await asyncio.sleep(0.05)
        assert len(rounds) == 1  # the first round
        model, _ = await container.models.import_model("m", VersionSpec("ONNX"), meta=META)
        for _ in range(5):
            await container.models.import_version(model.id, VersionSpec("ONNX"), meta=META)
        await asyncio.sleep(0.2)  # PostgreSQL's notices of those appends arrive
        assert len(rounds) == 1
    finally:
        await stop(follower)


async def test_a_new_versions_row_is_handed_to_its_command_as_committed(
    container: Container,
) -> None:
    """What ImportSuccess.version returns without a query: the row the projection wrote."""
    hand_off = container.created_versions
    model, first = await container.models.import_model(
        "m", VersionSpec("ONNX", metrics={"acc": 0.9}), meta=META
    )
    _, second = await container.models.import_version(
        model.id, VersionSpec("PMML", description="two"), meta=META
    )
    for version in (first, second):
        vid = str(version.id)
        handed = hand_off.take(vid)
        assert handed is not None
        assert handed == (await get_versions(container.db, [vid]))[vid]
        assert hand_off.take(vid) is None  # taken once


async def test_a_later_event_of_the_version_drops_its_hand_off_entry(
    container: Container,
) -> None:
    model, _ = await container.models.import_model("m", VersionSpec("ONNX"), meta=META)
    _, version = await container.models.import_version(model.id, VersionSpec("ONNX"), meta=META)
    await container.models.delete_version(version.id, meta=META)
    assert container.created_versions.take(str(version.id)) is None
