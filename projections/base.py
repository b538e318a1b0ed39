"""What every projection shares: the SQL protocol it writes through and event context."""

from __future__ import annotations

import functools
import json
import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, Protocol, TypeVar
from uuid import UUID

import orjson

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


class BulkWriter(Writer, Protocol):
    """A transaction, for batch handlers: it can also load many rows at once."""

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None: ...


class EventInfo(NamedTuple):
    """Where and by whom an event was recorded. (A named tuple: a frozen dataclass costs
    about 2 us more to make, and a rebuild makes one per event.)"""

    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    recorded_at: datetime
    actor: str
    request_id: str
    reason: str | None


Handler = Callable[[BulkWriter, Any, EventInfo], Awaitable[None]]
BatchHandler = Callable[[BulkWriter, list[EventInfo]], Awaitable[None]]


class Projection(ABC):
    """A read model: its tables, and one handler per event type it reads."""

    name: str
    tables: tuple[str, ...]
    ddl: tuple[str, ...]

    @abstractmethod
    def handlers(self) -> dict[str, Handler]:
        """Handlers by event name (``"Model.Registered"``, the topic after the colon)."""

    # Every event writes only rows of its own aggregate (see row_key).
    rows_per_originator = False

    def row_key(self, event_name: str, event: Any) -> Hashable | None:
        """The key of the rows this event's handler writes (an object's id), when events
        with other keys write other rows and nothing they write must come first in
        another row (no unique value they could hand over). The projector then batches
        their statements across events (:class:`~projections.write_batch.WriteBatch`),
        keeping the order of each key's. None: keep this event's writes in log order."""
        return event.originator_id if self.rows_per_originator else None

    def merge(self, sql: str, earlier: Sequence[Any], later: Sequence[Any]) -> Sequence[Any] | None:
        """Optionally, the arguments of one statement doing what ``sql`` with ``earlier``
        then ``sql`` with ``later`` do (two statements of one row key, nothing of that key
        between them); None: send both."""
        return None

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
    events, replays) fall out, oldest first. An entry can be put as the function that
    makes it, called only when it is taken: most entries never are."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, Callable[[], V]] = OrderedDict()
        self._pending: dict[K, Callable[[], V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: K, value: V) -> None:
        self._pending[key] = functools.partial(_same, value)

    def put_lazily(self, key: K, make: Callable[[], V]) -> None:
        self._pending[key] = make

    def settle(self, *, committed: bool) -> None:
        """The transaction of the pending rows ended."""
        pending, self._pending = self._pending, {}
        if not committed:
            return
        for key, make in pending.items():
            self._entries[key] = make
            self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)
        self._pending.pop(key, None)

    def take(self, key: K) -> V | None:
        """The entry, removed; None when there is none (read the table then)."""
        make = self._entries.pop(key, None)
        return None if make is None else make()


def _same(value: V) -> V:
    return value


def event_name(topic: str) -> str:
    """``domain.model:Model.Registered`` -> ``Model.Registered``."""
    return topic.rpartition(":")[2]


@functools.lru_cache(maxsize=1024)  # the events of one append share their time
def iso(moment: datetime) -> str:
    """Fixed-width ISO-8601 in UTC, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


# One encoder for every call: json.dumps builds one per call when given options.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> str:
    """Sorted keys, no spaces, text as it is: json's text, written by orjson (a tenth of
    the time) when orjson writes exactly that."""
    if _as_json(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:  # integers beyond 64 bits, lone surrogates
            pass
    return _ENCODER.encode(value)


def _as_json(value: Any) -> bool:
    """Whether orjson writes ``value`` as json does, or fails: it holds only dicts with
    text keys, lists, tuples, text, ints, bools, None and floats that json writes without
    an exponent (orjson writes those as json does, and exponents otherwise)."""
    kind = type(value)
    if kind is dict:
        return all(type(key) is str and _as_json(item) for key, item in value.items())
    if kind is list or kind is tuple:
        return all(_as_json(item) for item in value)
    if kind is float:
        return math.isfinite(value) and "e" not in repr(value)
    return kind is str or kind is int or kind is bool or value is None


def loads(text: str) -> Any:
    return json.loads(text)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with wildcards escaped (ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
