"""Reads on SQLite see every commit that finished before they started, even while other
coroutines are reading on the same connection (read-your-writes depends on it)."""

from __future__ import annotations

import asyncio

from app.adapters.sql.sqlite import SqliteDatabase


async def test_a_read_after_a_commit_sees_it_despite_concurrent_readers(
    sqlite_database: SqliteDatabase,
) -> None:
    db = sqlite_database
    await db.script(["CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"])
    await db.script([f"INSERT INTO t (pad) VALUES ('{'x' * 200}')" for _ in range(2000)])
    stop = asyncio.Event()

    async def busy_reader() -> None:
        while not stop.is_set():
            await db.fetch("SELECT * FROM t WHERE id <= 2000")

    async def writer(n: int) -> None:
        for i in range(20):
            key = 100_000 + n * 100 + i
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t (id, pad) VALUES ($1, 'w')", key)
            assert await db.fetchrow("SELECT id FROM t WHERE id = $1", key) is not None

    readers = [asyncio.create_task(busy_reader()) for _ in range(4)]
    try:
        await asyncio.gather(*(writer(n) for n in range(4)))
    finally:
        stop.set()
        await asyncio.gather(*readers)
