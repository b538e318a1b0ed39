"""What every projection shares: the SQL protocol it writes through and event context."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

Row = dict[str, Any]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Reader(Protocol):
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...
    async def fetchval(self, sql: str, *args: Any) -> Any: ...


class Writer(Reader, Protocol):
    async def execute(self, sql: str, *args: Any) -> None: ...
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


@dataclass(frozen=True, slots=True)
class EventInfo:
    """Where and by whom an event was recorded."""

    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    recorded_at: datetime
    actor: str
    request_id: str
    reason: str | None


Handler = Callable[[Writer, Any, EventInfo], Awaitable[None]]
BatchHandler = Callable[[Writer, list[EventInfo]], Awaitable[None]]


class Projection(ABC):
    """A read model: its tables, and one handler per event type it reads."""

    name: str
    tables: tuple[str, ...]
    ddl: tuple[str, ...]

    @abstractmethod
    def handlers(self) -> dict[str, Handler]:
        """Handlers by event name (``"Model.Registered"``, the topic after the colon)."""

    def batch_handler(self) -> BatchHandler | None:
        """Optionally, one call per batch with every event's context, in order (for read
        models that record each event the same way and write them in one statement)."""
        return None

    def transaction_ended(self, *, committed: bool) -> None:
        """Called after each transaction this projection's handlers ran in (for state it
        keeps beside its tables, such as a :class:`HandOff`)."""
        return None


class HandOff(Generic[K, V]):
    """Rows a projection has just written, kept for the command whose events they came
    from: its mutation takes its result from here instead of reading it back (a round
    trip). A row put during a transaction is pending until the projector settles it:
    kept when the transaction committed, forgotten when it rolled back. The projection
    drops a row's entry when it handles a later event that changes the row, and puts in
    only rows it wrote whole, so an entry is the row as committed (its command returns
    only once the transaction has). Bounded: entries nobody takes (other processes'
    events, replays) fall out, oldest first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._pending: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: K, value: V) -> None:
        self._pending[key] = value

    def settle(self, *, committed: bool) -> None:
        """The transaction of the pending rows ended."""
        pending, self._pending = self._pending, {}
        if not committed:
            return
        for key, value in pending.items():
            self._entries[key] = value
            self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)
        self._pending.pop(key, None)

    def take(self, key: K) -> V | None:
        """The entry, removed; None when there is none (read the table then)."""
        return self._entries.pop(key, None)


def event_name(topic: str) -> str:
    """``domain.model:Model.Registered`` -> ``Model.Registered``."""
    return topic.rpartition(":")[2]


def iso(moment: datetime) -> str:
    """Fixed-width ISO-8601 in UTC, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def loads(text: str) -> Any:
    return json.loads(text)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with wildcards escaped (ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
