"""Commands load what this process saved last from memory, and stay right when another
process changed it since (optimistic concurrency retries from the store); they wait for the
read models after letting go of the aggregate."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from uuid import uuid4

import pytest

from app.adapters.event_store.memory import InMemoryEventStore
from app.adapters.event_store.port import EventMeta, NewEvent, RecordedEvent
from app.bootstrap import Container
from app.services.models import ModelService, VersionSpec
from app.services.repository import AggregateCache, Repository
from app.services.serialization import EventMapper
from domain.errors import ValidationError
from domain.model import Model, ModelList
from tests.unit.fakes import in_memory_container, spy

META = EventMeta(actor="tester", request_id="r1")
ONNX = VersionSpec(model_format="ONNX")


def model(version_count: int = 1) -> Model:
    aggregate = Model.register(f"m-{uuid4().hex[:6]}", ModelList.ORIGINAL, None, {})
    for _ in range(version_count - 1):
        aggregate.allocate_version_number()
    aggregate.collect_events()
    return aggregate


async def test_commands_take_what_this_process_saved_last_from_memory(container: Container) -> None:
    service, store = container.models, container.store
    created, _ = await service.import_model("m", ONNX, meta=META)
    reads = spy(store, "read_aggregate")
    for _ in range(3):
        await service.import_version(created.id, ONNX, meta=META)
    assert created.id not in reads
    # Reads outside commands (queries, as-of views) go to the store.
    loaded = await service.get_model(created.id)
    assert loaded.last_version_number == 4 and reads == [created.id]


async def test_a_stale_aggregate_fails_its_save_and_the_retry_reads_the_store(
    container: Container, tmp_path: Path
) -> None:
    """Process B changes the model after process A cached it."""
    service_a, store = container.models, container.store
    created, _ = await service_a.import_model("m", ONNX, meta=META)
    async with in_memory_container(tmp_path / "b", store) as process_b:
        service_b = process_b.models
        await service_b.edit_tags(created.id, [("team", "cv")], meta=META)
        await service_b.import_version(created.id, ONNX, meta=META)  # V2 by B

    reads = spy(store, "read_aggregate")
    updated, v3 = await service_a.import_version(created.id, ONNX, meta=META)
    assert v3.number == 3 and updated.tags == {"team": "cv"}
    assert reads == [created.id]  # the conflict's retry
    log = await store.read_aggregate(created.id)
    assert [e.originator_version for e in log] == list(range(1, len(log) + 1))


async def test_an_aggregate_a_command_refused_to_change_is_loaded_again(
    container: Container,
) -> None:
    service, store = container.models, container.store
    created, _ = await service.import_model("m", ONNX, tags={"a": "1"}, meta=META)
    with pytest.raises(ValidationError):
        await service.edit_tags(created.id, [(f"k{i}", "v") for i in range(51)], meta=META)
    reads = spy(store, "read_aggregate")
    edited = await service.edit_tags(created.id, [("b", "2")], meta=META)
    assert edited.tags == {"b": "2"} and reads == [created.id]


def test_the_cache_keeps_the_newest_version_within_its_size() -> None:
    cache = AggregateCache(size=2)
    old, new = model(1), model(1)
    newer = model(3)
    cache.put(old)
    cache.put(new)
    cache.put(newer)
    assert len(cache) == 2 and cache.take(old.id) is None  # the least recent went

    stale = model(1)
    stale.__dict__["_id"] = newer.id  # the same aggregate at an older version
    assert stale.id == newer.id and stale.version < newer.version
    cache.put(stale)
    assert cache.take(newer.id) is newer
    assert cache.take(newer.id) is None  # taken: a second command reads the store


def test_events_seen_in_the_log_drop_older_entries() -> None:
    cache = AggregateCache()
    aggregate = model(2)
    cache.put(aggregate)

    def seen(version: int) -> RecordedEvent:
        return RecordedEvent(aggregate.id, version, "t", b"{}", 1, aggregate.created_on)

    cache.saw([seen(aggregate.version)])  # what it holds: kept
    assert len(cache) == 1
    cache.saw([seen(aggregate.version + 1)])
    assert cache.take(aggregate.id) is None


class GatedSync:
    """A read side that catches up only when the test opens the gate."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting: list[int] = []
        self.expected = 1_000
        self.all_waiting = asyncio.Event()

    async def wait_for(self, position: int, appended: Sequence[RecordedEvent] = ()) -> None:
        self.waiting.append(position)
        if len(self.waiting) >= self.expected:
            self.all_waiting.set()
        await self.gate.wait()

    async def append_and_apply(
        self, events: Sequence[NewEvent], meta: EventMeta
    ) -> list[RecordedEvent] | None:
        return None  # the caller appends


async def test_a_command_waits_for_the_read_models_after_letting_go_of_the_lock() -> None:
    """The next command on the same model appends while the first waits for projection."""
    sync = GatedSync()
    service = ModelService(Repository(InMemoryEventStore(), EventMapper()), sync)
    sync.gate.set()
    created, _ = await service.import_model("m", ONNX, meta=META)
    sync.gate.clear()
    sync.waiting.clear()
    sync.expected = 2  # both versions appended and waiting for the read side
    first = asyncio.create_task(service.import_version(created.id, ONNX, meta=META))
    second = asyncio.create_task(service.import_version(created.id, ONNX, meta=META))
    async with asyncio.timeout(5):
        await sync.all_waiting.wait()
    assert not first.done() and not second.done()
    sync.gate.set()
    numbers = sorted(v.number for _, v in await asyncio.gather(first, second))
    assert numbers == [2, 3]
