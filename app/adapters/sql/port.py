"""A small async SQL port shared by the event store and the read models.

SQL is written once with PostgreSQL-style ``$1`` placeholders; the SQLite adapter rewrites
them to ``?1``. Read-model tables keep to portable types: TEXT (ids, ISO-8601 UTC times,
JSON), INTEGER/BIGINT and DOUBLE PRECISION, booleans as 0/1.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

Row = dict[str, Any]
Dialect = Literal["sqlite", "postgres"]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; the message names it (password masked)."""


class ExpectationFailed(Exception):
    """A statement given to :meth:`Tx.expect` returned another number of rows; the
    transaction is rolled back."""


class Tx(ABC):
    """One open transaction."""

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> None: ...

    @abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert ``rows`` (values in ``columns`` order) into ``table``: one executemany
        here, a bulk load where the adapter has one. Table and column names are the
        code's own identifiers; values are always bound."""
        if len(rows) == 1:  # the one row of a command's event: as the other writes
            await self.execute(insert_sql(table, tuple(columns)), *rows[0])
        elif rows:
            await self.executemany(insert_sql(table, tuple(columns)), rows)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else next(iter(row.values()))

    async def expect(self, sql: str, *args: Any, rows: int) -> None:
        """Run a statement (a write with RETURNING, say) that must return ``rows`` rows,
        or the transaction fails with :class:`ExpectationFailed` (at the latest when it
        commits: an adapter may send it with the writes after it)."""
        got = len(await self.fetch(sql, *args))
        if got != rows:
            raise ExpectationFailed(f"expected {rows} rows, got {got}: {sql}")


class Database(ABC):
    """A connection pool. ``transaction()`` is serializable for writers on SQLite (one
    writer at a time) and READ COMMITTED on PostgreSQL, where writers that must be ordered
    take explicit locks (``FOR UPDATE`` via :attr:`for_update`, or table locks)."""

    dialect: Dialect
    url: str

    @property
    def for_update(self) -> str:
        return " FOR UPDATE" if self.dialect == "postgres" else ""

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def transaction(self, *, durable: bool = True) -> AbstractAsyncContextManager[Tx]:
        """A write transaction: committed on normal exit, rolled back on an exception.
        ``durable=False`` is for data derived from the log (read models): the commit need
        not wait for the disk (PostgreSQL's synchronous_commit off), because a crash that
        loses it loses the projection's position with it, and the log applies it again."""

    @abstractmethod
    def reader(self) -> AbstractAsyncContextManager[Tx]:
        """A read-only view for queries (may run concurrently with writers)."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self.reader() as tx:
            return await tx.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self.reader() as tx:
            return await tx.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.reader() as tx:
            return await tx.fetchval(sql, *args)

    async def script(self, statements: Sequence[str]) -> None:
        async with self.transaction() as tx:
            for statement in statements:
                await tx.execute(statement)


@functools.lru_cache(maxsize=64)
def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    """``INSERT INTO table (columns) VALUES ($1, ...)``, for names that are identifiers."""
    for name in (table, *columns):
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"not an SQL identifier: {name!r}")
    marks = ", ".join(f"${i + 1}" for i in range(len(columns)))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"
