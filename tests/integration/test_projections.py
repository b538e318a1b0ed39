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
from app.services.projector import Projector
from app.settings import Settings
from projections.versions import VersionsProjection

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
