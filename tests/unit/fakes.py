"""Fakes implementing our ports, for unit tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.adapters.event_store.memory import InMemoryEventStore
from app.adapters.event_store.port import EventMeta, NewEvent, RecordedEvent
from app.services.models import ModelService
from app.services.repository import Repository
from app.services.serialization import EventMapper


class RecordingSync:
    """A read side that is always caught up; remembers the highest position waited for."""

    def __init__(self) -> None:
        self.position = 0

    async def wait_for(self, position: int, appended: Sequence[RecordedEvent] = ()) -> None:
        self.position = max(self.position, position)

    async def append_and_apply(
        self, events: Sequence[NewEvent], meta: EventMeta
    ) -> list[RecordedEvent] | None:
        return None  # the caller appends


def model_service(snapshot_every: int = 50) -> tuple[ModelService, InMemoryEventStore]:
    store = InMemoryEventStore()
    repository = Repository(store, EventMapper(), snapshot_every=snapshot_every)
    return ModelService(repository, RecordingSync()), store


def spy(obj: object, name: str) -> list[Any]:
    """Records the first argument (None without one) of every call of the async method
    ``obj.<name>``, which keeps its behaviour."""
    calls: list[Any] = []
    original: Callable[..., Any] = getattr(obj, name)

    async def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else None)
        return await original(*args, **kwargs)

    setattr(obj, name, recorded)
    return calls
