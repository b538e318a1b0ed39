"""The model service on the in-memory event store: rules, races and time travel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.adapters.event_store.port import EventMeta
from app.bootstrap import Container
from app.services.models import VersionSpec
from domain.errors import AlreadyDeleted, NameTaken, NotFound, ValidationError
from domain.model import Model, ModelList
from domain.version import ModelVersion
from tests.unit.fakes import in_memory_container

META = EventMeta(actor="tester", request_id="r1")
ONNX = VersionSpec(model_format="ONNX")


async def test_import_creates_model_and_v1_atomically(container: Container) -> None:
    service, store = container.models, container.store
    model, version = await service.import_model("  resnet ", ONNX, tags={"team": "cv"}, meta=META)
    assert (model.name, model.tags, model.last_version_number) == ("resnet", {"team": "cv"}, 1)
    assert (version.number, version.runtime, version.status) == (1, "onnxruntime", "READY")
    log = await store.read_log()
    assert {e.topic.rpartition(":")[2] for e in log} == {
        "NameClaim.Claimed",
        "Model.Registered",
        "Model.VersionAllocated",
        "ModelVersion.Imported",
    }
    assert {e.meta.actor for e in log} == {"tester"}


@pytest.mark.parametrize("other", ["resnet", "RESNET", "  ResNet  "])
async def test_duplicate_names_conflict_ignoring_case_and_spaces(
    other: str, container: Container
) -> None:
    service, store = container.models, container.store
    await service.import_model("ResNet", ONNX, meta=META)
    before = await store.last_position()
    with pytest.raises(NameTaken, match="'ResNet' already exists"):
        await service.import_model(other, ONNX, meta=META)
    assert await store.last_position() == before


async def test_the_same_name_may_be_used_in_the_other_list(container: Container) -> None:
    service = container.models
    await service.import_model("resnet", ONNX, meta=META)
    model, _ = await service.import_model("resnet", ONNX, model_list=ModelList.OPTIMIZED, meta=META)
    assert model.model_list == "OPTIMIZED"


async def test_concurrent_claims_of_one_name_have_one_winner(container: Container) -> None:
    service = container.models
    results = await asyncio.gather(
        *(service.import_model(f"Name{' ' * (i % 3)}", ONNX, meta=META) for i in range(20)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, tuple) for r in results) == 1
    assert sum(isinstance(r, NameTaken) for r in results) == 19


@pytest.mark.parametrize(
    ("name", "tags", "spec"),
    [
        ("", {}, ONNX),
        ("x" * 65, {}, ONNX),
        ("ok", {f"k{i}": "v" for i in range(51)}, ONNX),
        ("ok", {"": "v"}, ONNX),
        ("ok", {"k": "v" * 256}, ONNX),
        ("ok", {}, VersionSpec(model_format="KERAS")),
        ("ok", {}, VersionSpec(model_format="ONNX", runtime="pmml")),
    ],
)
async def test_bad_imports_change_nothing(
    name: str, tags: dict[str, str], spec: VersionSpec, container: Container
) -> None:
    service, store = container.models, container.store
    with pytest.raises(ValidationError):
        await service.import_model(name, spec, tags=tags, meta=META)
    assert await store.last_position() == 0


async def test_fifty_concurrent_version_imports_number_v1_to_v50(container: Container) -> None:
    service = container.models
    container.repository.snapshot_every = 7
    model, _ = await service.import_model("m", ONNX, meta=META)
    results = await asyncio.gather(
        *(service.import_version(model.id, ONNX, meta=META) for _ in range(49))
    )
    numbers = sorted(v.number for _, v in results)
    assert numbers == list(range(2, 51))
    reloaded = await service.repo.get(model.id, Model, kind="model")
    assert reloaded.last_version_number == 50


async def test_concurrent_imports_from_two_services_sharing_a_store(
    container: Container, tmp_path: Path
) -> None:
    """Two processes: no shared in-process lock, only optimistic concurrency."""
    async with in_memory_container(tmp_path / "b", container.store) as other:
        service_a, service_b = container.models, other.models
        model, _ = await service_a.import_model("m", ONNX, meta=META)
        results = await asyncio.gather(
            *(
                (service_a if i % 2 else service_b).import_version(model.id, ONNX, meta=META)
                for i in range(30)
            )
        )
    assert sorted(v.number for _, v in results) == list(range(2, 32))


async def test_version_numbers_are_never_reused_after_deletion(container: Container) -> None:
    service = container.models
    model, _ = await service.import_model("m", ONNX, meta=META)
    _, v2 = await service.import_version(model.id, ONNX, meta=META)
    await service.delete_version(v2.id, meta=META)
    _, v3 = await service.import_version(model.id, ONNX, meta=META)
    assert v3.number == 3


async def test_deleting_a_model_deletes_its_versions_and_frees_its_name(
    container: Container,
) -> None:
    service = container.models
    model, v1 = await service.import_model("m", ONNX, meta=META)
    _, v2 = await service.import_version(model.id, ONNX, meta=META)
    await service.delete_version(v1.id, meta=META)
    deleted, count = await service.delete_model(model.id, meta=META)
    assert deleted.deleted and count == 1
    stored_v2 = await service.repo.get(v2.id, ModelVersion, kind="version")
    assert stored_v2.deleted
    again, _ = await service.import_model("M", ONNX, meta=META)
    assert again.id != model.id


async def test_deleted_things_cannot_be_changed(container: Container) -> None:
    service, store = container.models, container.store
    model, v1 = await service.import_model("m", ONNX, meta=META)
    await service.delete_version(v1.id, meta=META)
    with pytest.raises(AlreadyDeleted, match="V1 is deleted"):
        await service.delete_version(v1.id, meta=META)
    await service.delete_model(model.id, meta=META)
    before = await store.last_position()
    with pytest.raises(AlreadyDeleted):
        await service.edit_tags(model.id, [("a", "b")], meta=META)
    with pytest.raises(AlreadyDeleted):
        await service.update_description(model.id, "x", meta=META)
    with pytest.raises(AlreadyDeleted):
        await service.import_version(model.id, ONNX, meta=META)
    with pytest.raises(AlreadyDeleted):
        await service.delete_model(model.id, meta=META)
    assert await store.last_position() == before


async def test_unknown_and_malformed_ids(container: Container) -> None:
    service = container.models
    with pytest.raises(NotFound):
        await service.edit_tags("00000000-0000-0000-0000-000000000000", [], meta=META)
    with pytest.raises(ValidationError, match="not a valid id"):
        await service.delete_model("not-a-uuid", meta=META)
    with pytest.raises(ValidationError, match="not a valid id"):
        await service.delete_version("", meta=META)


async def test_unchanged_tags_or_description_record_nothing(container: Container) -> None:
    service, store = container.models, container.store
    model, _ = await service.import_model("m", ONNX, tags={"a": "b"}, meta=META)
    before = await store.last_position()
    await service.edit_tags(model.id, [("a", "b")], meta=META)
    await service.update_description(model.id, "", meta=META)
    assert await store.last_position() == before


async def test_state_as_of_a_past_moment(container: Container) -> None:
    service = container.models
    model, _ = await service.import_model("m", ONNX, tags={"stage": "dev"}, meta=META)
    await asyncio.sleep(0.01)
    between = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await service.edit_tags(model.id, [("stage", "prod")], meta=META)
    await service.delete_model(model.id, meta=META)

    past = await service.model_as_of(model.id, between)
    assert past is not None and past.tags == {"stage": "dev"} and not past.deleted
    now = await service.model_as_of(model.id, datetime.now(UTC))
    assert now is not None and now.deleted and now.tags == {"stage": "prod"}
    assert await service.model_as_of(model.id, datetime(2000, 1, 1, tzinfo=UTC)) is None
    found = await service.model_id_by_name_as_of("M", ModelList.ORIGINAL, between)
    assert found == model.id


async def test_snapshots_keep_loads_correct(container: Container) -> None:
    service, store = container.models, container.store
    container.repository.snapshot_every = 5
    model, _ = await service.import_model("m", ONNX, meta=META)
    for _ in range(12):
        await service.import_version(model.id, ONNX, meta=META)
    snapshot = await store.latest_snapshot(model.id)
    assert snapshot is not None and snapshot.originator_version >= 10
    loaded = await service.repo.get(model.id, Model, kind="model")
    assert loaded.last_version_number == 13 and loaded.version == 14
