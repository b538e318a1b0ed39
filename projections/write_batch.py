"""A projection's writes for a batch of events, sent as few ``executemany`` calls.

Handlers write one event at a time (``execute``); replaying the log that way is one round
trip per statement. A :class:`WriteBatch` is the :class:`~projections.base.Writer` the
projector hands a projection's handlers instead: it keeps their statements, grouped by SQL
text, and sends each group with one ``executemany`` (bound parameters, prepared once) when
the batch is flushed, or before a handler reads.

Grouping reorders statements, so it only moves a statement across statements of other
rows: each statement carries the key of the rows its event's handler writes (the
projection's :meth:`~projections.base.Projection.row_key`), and a statement joins an
earlier group of the same SQL only when no statement with its key, and no statement with
no key, comes between. Statements of one key run in the order they were written; a
statement with no key runs after everything before it and before everything after it.

Two more ways to send less: rows given to :meth:`WriteBatch.insert_rows` are grouped like
statements and loaded with the transaction's ``insert_rows`` (COPY on PostgreSQL: a third
of an INSERT's time per row on both sides); and a statement that comes right after its
key's previous one, the same SQL, can be merged into it when the projection says how
(``merge``: a counter's +1s become one +n).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from projections.base import BulkWriter, Row

# Merges a statement's arguments into those of the same SQL before it (same key): the
# arguments of one statement doing both, or None when it cannot.
Merge = Callable[[str, Sequence[Any], Sequence[Any]], Sequence[Any] | None]


class WriteBatch:
    """One projection's pending writes within one transaction (``tx``). ``key`` is set
    before each handler runs: the key of the rows it writes, None for unknown. ``after``:
    writes of the transaction still being sent, which a read waits for. ``merge``: the
    projection's :meth:`~projections.base.Projection.merge`."""

    def __init__(
        self,
        tx: BulkWriter,
        *,
        after: Awaitable[None] | None = None,
        merge: Merge | None = None,
    ) -> None:
        self.tx = tx
        self.after = after
        self.key: Hashable | None = None
        self._merge = merge
        # (SQL, or (table, columns) for insert_rows; its rows)
        self._groups: list[tuple[str | tuple[str, tuple[str, ...]], list[Sequence[Any]]]] = []
        self._latest: dict[Hashable, int] = {}  # SQL -> index of its latest group
        # key -> the group of its latest statement, and that statement's row in it (-1
        # when it gave several rows)
        self._last_of_key: dict[Hashable, tuple[int, int]] = {}
        self._floor = 0  # the group of the latest statement with no key

    async def execute(self, sql: str, *args: Any) -> None:
        self._add(sql, [args])

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._add(sql, rows)

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if rows:
            self._add((table, tuple(columns)), rows)

    def _add(self, sql: str | tuple[str, tuple[str, ...]], rows: Sequence[Sequence[Any]]) -> None:
        key = self.key
        last = None if key is None else self._last_of_key.get(key)
        if key is None:
            lowest = len(self._groups) - 1
        elif last is None:
            lowest = self._floor
        else:
            lowest = max(self._floor, last[0])
        index = self._latest.get(sql, -1)
        if index < lowest or index < 0:
            index = len(self._groups)
            self._groups.append((sql, []))
            self._latest[sql] = index
        group = self._groups[index][1]
        if key is None:
            self._floor = index
            group.extend(rows)
        elif len(rows) != 1:
            self._last_of_key[key] = (index, -1)
            group.extend(rows)
        else:
            if last is not None and last[0] == index and last[1] >= 0 and self._merge:
                merged = self._merge(sql, group[last[1]], rows[0]) if type(sql) is str else None
                if merged is not None:
                    group[last[1]] = merged
                    return
            self._last_of_key[key] = (index, len(group))
            group.append(rows[0])

    async def flush(self) -> None:
        """Send the waiting statements, group by group."""
        if self.after is not None:
            await self.after
            self.after = None
        groups = self._groups
        if not groups:
            return
        self._groups = []
        self._latest.clear()
        self._last_of_key.clear()
        self._floor = 0
        for sql, rows in groups:
            if not isinstance(sql, str):
                await self.tx.insert_rows(*sql, rows)
            elif len(rows) == 1:
                await self.tx.execute(sql, *rows[0])
            else:
                await self.tx.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        await self.flush()
        return await self.tx.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        await self.flush()
        return await self.tx.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        await self.flush()
        return await self.tx.fetchval(sql, *args)
