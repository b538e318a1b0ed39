"""PostgreSQL through asyncpg: its pool, its connections, its prepared statements.

Every statement goes through asyncpg's public API with its values as bound parameters
(``conn.execute/fetch/executemany(sql, *args)``); asyncpg prepares each statement once per
connection and keeps it in its statement cache. A transaction runs statement by statement
inside asyncpg's ``conn.transaction()``. Read-model transactions (``durable=False``) use
connections whose commits do not wait for the WAL flush (``synchronous_commit`` off, set
when the connection opens). The pools are asyncpg's (``asyncpg.create_pool``), with
``reset`` (a documented parameter) set to skip the default reset query; asyncpg still
rolls back a transaction left open and replaces a connection that broke or whose query was
cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from app.adapters.sql.port import (
    Database,
    DatabaseUnavailable,
    Row,
    Tx,
    insert_sql,
    mask_url,
)

# Statements kept prepared per connection (asyncpg's default is 100): the read models'
# handlers and queries together use a few hundred distinct statements.
STATEMENT_CACHE_SIZE = 1024
CLOSE_TIMEOUT_S = 10
# Rows from which Tx.insert_rows uses COPY.
COPY_FROM_ROWS = 100


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing. asyncpg rolls back a transaction left open before it
    calls this; nothing here changes session state otherwise (settings are SET LOCAL,
    advisory locks are transaction-scoped, LISTEN has a connection of its own), so the
    default reset (RESET ALL, UNLISTEN *, ...: a round trip per release) is not needed."""


class PostgresTx(Tx):
    def __init__(self, conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await self.conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self.conn.fetch(sql, *args)]

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Many rows go by binary COPY (asyncpg's copy_records_to_table: a third of an
        executemany's time per row, on both sides); a few by executemany, one round trip
        where COPY takes two."""
        if len(rows) < COPY_FROM_ROWS:
            await super().insert_rows(table, columns, rows)
        else:
            insert_sql(table, tuple(columns))  # the names are identifiers
            await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))


class PostgresDatabase(Database):
    dialect = "postgres"

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._derived: asyncpg.Pool | None = None  # transaction(durable=False)
        self._min_size = min_size
        self._max_size = max_size
        # Server process ids of the pool's connections: a notification from one of them
        # is this process's own doing.
        self.backend_pids: set[int] = set()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise DatabaseUnavailable(f"database {mask_url(self.url)} is not open")
        return self._pool

    @property
    def dsn(self) -> str:
        return self.url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def open(self) -> None:
        try:
            self._pool = await self._open_pool(self._min_size, self._max_size)
            # A few connections whose commits do not wait for the WAL flush, for
            # read-model transactions.
            self._derived = await self._open_pool(1, 2, {"synchronous_commit": "off"})
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            await self.close()
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {mask_url(self.url)}: {exc}"
            ) from exc

    async def _open_pool(
        self, min_size: int, max_size: int, server_settings: dict[str, str] | None = None
    ) -> asyncpg.Pool:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            self.dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=10,
            init=self._remember_pid,
            reset=_keep_session,
            server_settings=server_settings,
            statement_cache_size=STATEMENT_CACHE_SIZE,
        )
        return pool

    async def _remember_pid(self, conn: asyncpg.Connection) -> None:
        self.backend_pids.add(conn.get_server_pid())

    async def close(self) -> None:
        for pool in (self._pool, self._derived):
            if pool is not None:
                try:  # waits for connections in use to come back, for a while
                    await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_S)
                except TimeoutError:
                    pool.terminate()
        self._pool = self._derived = None

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[Tx]:
        pool = self.pool if durable or self._derived is None else self._derived
        async with pool.acquire() as conn, conn.transaction():
            yield PostgresTx(conn)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Tx]:
        async with self.pool.acquire() as conn:
            yield PostgresTx(conn)
