"""The PostgreSQL connection pool: connections are reused as they are, except one that may
be busy, broken or inside a transaction, which is closed instead; waiters queue when all
are in use; closing fails waiters and closes connections as they come back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.adapters.sql.pg_pool import ConnectionPool, PoolClosed


@pytest.fixture
async def pool(pg_url: str) -> AsyncIterator[ConnectionPool]:
    opened = ConnectionPool(pg_url, min_size=1, max_size=2, connect_timeout=10)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def backend(pool: ConnectionPool) -> int:
    pid: int = await pool.fetchval("SELECT pg_backend_pid()")
    return pid


async def test_a_connection_is_reused_as_it_is(pool: ConnectionPool) -> None:
    first = await backend(pool)
    assert await backend(pool) == first
    assert (pool.size, pool.idle) == (1, 1)


async def test_a_server_error_leaves_the_connection_in_the_pool(pool: ConnectionPool) -> None:
    first = await backend(pool)
    with pytest.raises(asyncpg.UndefinedTableError):
        await pool.fetch("SELECT * FROM no_such_table")
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.DivisionByZeroError):
            async with conn.transaction():
                await conn.execute("SELECT 1 / 0")
    assert await backend(pool) == first


async def test_a_cancelled_query_closes_its_connection(pool: ConnectionPool) -> None:
    first = await backend(pool)
    sleeper = asyncio.create_task(pool.fetch("SELECT pg_sleep(30)"))
    await asyncio.sleep(0.2)
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert (pool.size, pool.idle) == (0, 0)
    second = await backend(pool)  # a new connection, not the one still busy
    assert second != first
    assert await pool.fetchval("SELECT 41 + 1") == 42


async def test_a_connection_left_in_a_transaction_is_closed(pool: ConnectionPool) -> None:
    first = await backend(pool)
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
    assert pool.size == 0
    assert await backend(pool) != first


async def test_a_broken_connection_is_replaced(pool: ConnectionPool, pg_url: str) -> None:
    first = await backend(pool)
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", first)
    finally:
        await admin.close()
    await asyncio.sleep(0.1)
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
        await backend(pool)
    assert await backend(pool) not in (first, None)


async def test_acquirers_wait_when_every_connection_is_in_use(pool: ConnectionPool) -> None:
    order: list[str] = []
    release = asyncio.Event()

    async def hold(name: str) -> None:
        async with pool.acquire():
            order.append(f"{name} in")
            await release.wait()
        order.append(f"{name} out")

    holders = [asyncio.create_task(hold(n)) for n in ("a", "b")]
    await asyncio.sleep(0.1)
    waiter = asyncio.create_task(backend(pool))
    await asyncio.sleep(0.1)
    assert not waiter.done() and pool.size == 2
    release.set()
    await asyncio.gather(*holders)
    assert await waiter > 0
    assert pool.size == 2 and order == ["a in", "b in", "a out", "b out"]


async def test_a_cancelled_waiter_gives_up_its_place(pool: ConnectionPool) -> None:
    async with pool.acquire(), pool.acquire():
        waiter = asyncio.create_task(backend(pool))
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert (pool.size, pool.idle) == (2, 2)
    assert await backend(pool) > 0


async def test_a_freed_place_lets_a_waiter_open_a_connection(pool: ConnectionPool) -> None:
    """A connection closed on release (not handed over) lets the next waiter open one."""
    async with pool.acquire():
        holder = pool.acquire()
        conn = await holder.__aenter__()
        waiter = asyncio.create_task(backend(pool))
        await asyncio.sleep(0.05)
        await conn.execute("BEGIN")
        await holder.__aexit__(None, None, None)  # in a transaction: closed
        assert await asyncio.wait_for(waiter, 10) > 0
    assert pool.size == 2


async def test_closing_fails_waiters_and_closes_connections_as_they_return(
    pool: ConnectionPool,
) -> None:
    async with pool.acquire() as held, pool.acquire():
        waiter = asyncio.create_task(backend(pool))
        await asyncio.sleep(0.05)
        await pool.close()
        with pytest.raises(PoolClosed):
            await waiter
    assert held.is_closed()
    assert pool.size == 0
    with pytest.raises(PoolClosed):
        await backend(pool)


async def test_a_database_that_is_down_fails_open_and_leaves_nothing_open() -> None:
    down = ConnectionPool(
        "postgresql://postgres@127.0.0.1:1/postgres", min_size=2, max_size=2, connect_timeout=5
    )
    with pytest.raises(OSError):
        await down.open()
    assert down.size == 0


async def test_sizes_must_make_sense() -> None:
    with pytest.raises(ValueError, match="min_size"):
        ConnectionPool("postgresql://x/y", min_size=3, max_size=2, connect_timeout=1)
