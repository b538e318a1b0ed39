"""The app's container on in-memory and temporary adapters, for unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from app.adapters.event_store.memory import InMemoryEventStore
from app.adapters.event_store.port import EventStore
from app.adapters.object_store.local import LocalObjectStore
from app.adapters.sql.sqlite import SqliteDatabase
from app.bootstrap import Container, build
from app.settings import Settings


@asynccontextmanager
async def in_memory_container(
    data_dir: Path, store: EventStore | None = None
) -> AsyncIterator[Container]:
    """The container bootstrap builds, on an in-memory event store (``store`` to share one,
    as two processes share a database), with its read models in a SQLite file and its
    objects in a folder under ``data_dir``."""
    settings = Settings(
        data_dir=data_dir, monitoring=False, batch_worker=False, optimization_worker=False
    )
    container = await build(
        settings,
        database=SqliteDatabase(f"sqlite:///{data_dir / 'read-models.db'}"),
        event_store=InMemoryEventStore() if store is None else store,
        storage=LocalObjectStore(data_dir / "objects"),
    )
    try:
        yield container
    finally:
        await container.close()


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
