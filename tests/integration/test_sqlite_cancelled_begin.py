"""A writer cancelled while its BEGIN waits on the connection's thread must not leave a
transaction open there (every later transaction would fail). The data plane cancels a
deploy that a newer revision replaces, and that deploy may be about to record a status."""

from __future__ import annotations

import asyncio

from app.adapters.sql.sqlite import SqliteDatabase

SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000)"
    " SELECT count(*) FROM c"
)


async def test_a_cancelled_begin_leaves_no_transaction_open(
    sqlite_database: SqliteDatabase,
) -> None:
    db = sqlite_database
    await db.script(["CREATE TABLE t (x INTEGER)"])

    async def write(value: int) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES ($1)", value)

    # Keep the writer connection's thread busy so the BEGIN waits in its queue.
    async with db.transaction() as tx:
        busy = asyncio.ensure_future(tx.fetch(SLOW))
    task = asyncio.create_task(write(1))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await busy
    await write(2)
    assert await db.fetch("SELECT x FROM t") == [{"x": 2}]
