"""A pool of asyncpg connections that costs a list pop and push per use.

asyncpg's own pool spends about 140 µs of CPU on each acquire and release (a task to
shield the release, a timeout scope, a timer re-armed for idle connections, a proxy
object), more than the query itself costs the client; a command uses the pool two or
three times. This one hands out the connections themselves and takes them back as they
are, because nothing here leaves session state behind (transactions are context
managers), with one exception, checked on every release: a connection that may still be
busy or inside a transaction is closed rather than handed out again. That is one whose
user was cancelled or timed out (a query may still be running), one whose connection
failed, or one still in a transaction.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

Init = Callable[[asyncpg.Connection], Awaitable[None]]


class PoolClosed(asyncpg.InterfaceError):
    """The pool was closed (the server is stopping)."""


class ConnectionPool:
    def __init__(
        self,
        dsn: str,
        *,
        min_size: int,
        max_size: int,
        connect_timeout: float,
        init: Init | None = None,
        server_settings: Mapping[str, str] | None = None,
        statement_cache_size: int = 100,
    ) -> None:
        if not 0 < min_size <= max_size:
            raise ValueError(f"need 0 < min_size <= max_size, got {min_size}, {max_size}")
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self._connect_timeout = connect_timeout
        self._init = init
        self._server_settings = dict(server_settings or {})
        self._statement_cache_size = statement_cache_size
        self._idle: list[asyncpg.Connection] = []
        # Acquirers waiting for a connection: given one, or None to open their own.
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._size = 0  # open connections, idle or in use, and those being opened
        self._closed = False

    async def open(self) -> None:
        """Open ``min_size`` connections (so a database that is down fails here)."""
        try:
            for _ in range(self.min_size):
                self._idle.append(await self._connect())
        except BaseException:
            for conn in self._idle:
                self._discard(conn)
            self._idle.clear()
            raise

    @property
    def size(self) -> int:
        return self._size

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def _connect(self) -> asyncpg.Connection:
        self._size += 1
        try:
            conn = await asyncpg.connect(
                self.dsn,
                timeout=self._connect_timeout,
                server_settings=self._server_settings,
                statement_cache_size=self._statement_cache_size,
            )
        except BaseException:
            self._size -= 1
            self._wake_one(None)
            raise
        try:
            if self._init is not None:
                await self._init(conn)
        except BaseException:
            self._discard(conn)
            raise
        return conn

    async def _get(self) -> asyncpg.Connection:
        if self._closed:
            raise PoolClosed("the connection pool is closed")
        if self._idle:
            return self._idle.pop()
        if self._size < self.max_size:
            return await self._connect()
        waiter: asyncio.Future[asyncpg.Connection | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiters.append(waiter)
        try:
            conn = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()  # handed over as we were cancelled: pass it on
                if handed is None:
                    self._wake_one(None)
                else:
                    self._put_back(handed)
            else:
                self._waiters.remove(waiter)
            raise
        return conn if conn is not None else await self._connect()

    def _wake_one(self, conn: asyncpg.Connection | None) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    def _put_back(self, conn: asyncpg.Connection) -> None:
        if self._closed:
            self._discard(conn)
        elif not self._wake_one(conn):
            self._idle.append(conn)

    def _discard(self, conn: asyncpg.Connection) -> None:
        conn.terminate()
        self._size -= 1
        self._wake_one(None)  # a waiter may open one in its place

    def release(self, conn: asyncpg.Connection, failure: BaseException | None = None) -> None:
        """Take a connection back; ``failure`` is what ended its use, if anything did."""
        if (
            conn.is_closed()
            or not (failure is None or isinstance(failure, Exception))  # cancelled
            or isinstance(failure, (TimeoutError, OSError, asyncpg.InterfaceError))
            or conn.is_in_transaction()
        ):
            self._discard(conn)
        else:
            self._put_back(conn)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await self._get()
        try:
            yield conn
        except BaseException as exc:
            self.release(conn, exc)
            raise
        self.release(conn)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self.acquire() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
            return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def close(self) -> None:
        """Close the idle connections now and the others as they come back; waiters fail."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed("the connection pool is closed"))
        idle, self._idle = self._idle, []
        for conn in idle:
            self._size -= 1
            try:
                await asyncio.wait_for(conn.close(), timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()
