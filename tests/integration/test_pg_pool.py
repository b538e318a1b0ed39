"""The PostgreSQL connection pool (asyncpg's, as PostgresDatabase opens it): a connection
whose query failed, was cancelled, broke or was left inside a transaction never reaches the
next user in that state; acquirers wait when every connection is in use; closing closes
the connections."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.adapters.sql.port import DatabaseUnavailable
from app.adapters.sql.postgres import PostgresDatabase


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[PostgresDatabase]:
    opened = PostgresDatabase(pg_url, min_size=1, max_size=2)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def backend(db: PostgresDatabase) -> int:
    pid: int = await db.pool.fetchval("SELECT pg_backend_pid()")
    return pid


async def connected(pg_url: str, pids: set[int]) -> int:
    """How many of these server processes are still connected."""
    admin = await asyncpg.connect(pg_url)
    try:
        return int(
            await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids)
            )
        )
    finally:
        await admin.close()


async def test_connections_are_reused(db: PostgresDatabase) -> None:
    assert len({await backend(db) for _ in range(10)}) <= 2


async def test_a_server_error_leaves_the_connection_usable(db: PostgresDatabase) -> None:
    with pytest.raises(asyncpg.UndefinedTableError):
        await db.pool.fetch("SELECT * FROM no_such_table")
    async with db.pool.acquire() as conn:
        with pytest.raises(asyncpg.DivisionByZeroError):
            async with conn.transaction():
                await conn.execute("SELECT 1 / 0")
    async with db.pool.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT 41 + 1") == 42


async def test_a_cancelled_query_leaves_the_pool_usable(db: PostgresDatabase) -> None:
    sleeper = asyncio.create_task(db.pool.fetch("SELECT pg_sleep(30)"))
    await asyncio.sleep(0.2)
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    for _ in range(3):  # whichever connection comes next
        assert await db.pool.fetchval("SELECT 41 + 1") == 42
    sleeping = await db.pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'"
        " AND state = 'active'"
    )
    assert sleeping == 0


async def test_a_connection_left_in_a_transaction_is_rolled_back(db: PostgresDatabase) -> None:
    async with db.pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("CREATE TABLE left_open (x INTEGER)")
    for _ in range(3):
        async with db.pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('left_open')::text") is None


async def test_a_broken_connection_is_replaced(db: PostgresDatabase, pg_url: str) -> None:
    first = await backend(db)
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", first)
    finally:
        await admin.close()
    await asyncio.sleep(0.1)
    pids: set[int] = set()
    for _ in range(3):  # the broken one fails once, then is replaced
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            pids.add(await backend(db))
    assert pids and first not in pids


async def test_acquirers_wait_when_every_connection_is_in_use(db: PostgresDatabase) -> None:
    order: list[str] = []
    release = asyncio.Event()

    async def hold(name: str) -> None:
        async with db.pool.acquire():
            order.append(f"{name} in")
            await release.wait()
        order.append(f"{name} out")

    holders = [asyncio.create_task(hold(n)) for n in ("a", "b")]
    await asyncio.sleep(0.1)
    waiter = asyncio.create_task(backend(db))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    release.set()
    await asyncio.gather(*holders)
    assert await waiter > 0
    assert order == ["a in", "b in", "a out", "b out"]


async def test_a_cancelled_waiter_gives_up_its_place(db: PostgresDatabase) -> None:
    async with db.pool.acquire(), db.pool.acquire():
        waiter = asyncio.create_task(backend(db))
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert await backend(db) > 0
    assert await backend(db) > 0


async def test_closing_closes_the_connections(pg_url: str) -> None:
    db = PostgresDatabase(pg_url, min_size=2, max_size=2)
    await db.open()
    await asyncio.gather(*(backend(db) for _ in range(4)))
    assert await connected(pg_url, db.backend_pids) >= 2
    await db.close()
    await asyncio.sleep(0.1)
    assert await connected(pg_url, db.backend_pids) == 0
    with pytest.raises(DatabaseUnavailable):
        await backend(db)


async def test_a_database_that_is_down_fails_open() -> None:
    down = PostgresDatabase("postgresql://postgres@127.0.0.1:1/postgres", min_size=2)
    with pytest.raises(DatabaseUnavailable, match="cannot connect"):
        await down.open()
    with pytest.raises(DatabaseUnavailable):
        down.pool  # noqa: B018 (the property raises)


async def test_sizes_must_make_sense(pg_url: str) -> None:
    with pytest.raises(ValueError, match="min_size"):
        await PostgresDatabase(pg_url, min_size=3, max_size=2).open()
