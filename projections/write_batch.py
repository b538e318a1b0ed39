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
"""

from __future__ import annotations

from collections.abc import Awaitable, Hashable, Sequence
from typing import Any

from projections.base import Row, Writer


class WriteBatch:
    """One projection's pending writes within one transaction (``tx``). ``key`` is set
    before each handler runs: the key of the rows it writes, None for unknown. ``after``:
    writes of the transaction still being sent, which a read waits for."""

    def __init__(self, tx: Writer, *, after: Awaitable[None] | None = None) -> None:
        self.tx = tx
        self.after = after
        self.key: Hashable | None = None
        self._groups: list[tuple[str, list[Sequence[Any]]]] = []
        self._latest: dict[str, int] = {}  # SQL -> index of its latest group
        self._last_of_key: dict[Hashable, int] = {}  # key -> group of its latest statement
        self._floor = 0  # the group of the latest statement with no key

    async def execute(self, sql: str, *args: Any) -> None:
        self._add(sql, [args])

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._add(sql, rows)

    def _add(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        key = self.key
        if key is None:
            lowest = len(self._groups) - 1
        else:
            lowest = max(self._floor, self._last_of_key.get(key, -1))
        index = self._latest.get(sql, -1)
        if index < lowest or index < 0:
            index = len(self._groups)
            self._groups.append((sql, []))
            self._latest[sql] = index
        self._groups[index][1].extend(rows)
        if key is None:
            self._floor = index
        else:
            self._last_of_key[key] = index

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
            if len(rows) == 1:
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
