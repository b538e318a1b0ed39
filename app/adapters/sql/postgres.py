"""PostgreSQL through an asyncpg pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from app.adapters.sql.port import Database, DatabaseUnavailable, Row, Tx, mask_url


class PostgresTx(Tx):
    def __init__(self, conn: asyncpg.Connection | PoolConnectionProxy) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await self.conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self.conn.fetch(sql, *args)]


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None


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
            self._pool = await self._create_pool(self._min_size, self._max_size)
            # A few connections whose commits do not wait for the WAL flush.
            self._derived = await self._create_pool(
                1, 2, server_settings={"synchronous_commit": "off"}
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            await self.close()
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {mask_url(self.url)}: {exc}"
            ) from exc

    async def _create_pool(self, min_size: int, max_size: int, **options: Any) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            self.dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=10,
            # The default reset runs several statements on every release; our code never
            # leaves session state behind (transactions are context managers).
            reset=_no_reset,
            init=self._remember_pid,
            **options,
        )

    async def _remember_pid(self, conn: asyncpg.Connection) -> None:
        self.backend_pids.add(conn.get_server_pid())

    async def close(self) -> None:
        for pool in (self._pool, self._derived):
            if pool is not None:
                await pool.close()
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
