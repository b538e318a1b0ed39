"""SQLite calls run on the event loop's thread when they cannot wait long, and on the
connection's thread otherwise: a long query, a write lock another process holds."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator

import pytest

import app.adapters.sql.sqlite as sqlite_adapter
from app.adapters.sql.sqlite import SqliteDatabase

SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
    " SELECT count(*) AS n, thread_name() AS thread FROM c"
)


def connections(db: SqliteDatabase) -> Iterator[sqlite3.Connection]:
    for owner in (db._writer, db._reader):
        assert owner is not None and owner._conn is not None
        yield owner._conn


@pytest.fixture
async def db(sqlite_database: SqliteDatabase) -> SqliteDatabase:
    """Each connection answers thread_name(): the thread a statement runs on."""
    for conn in connections(sqlite_database):
        conn.create_function("thread_name", 0, lambda: threading.current_thread().name)
    await sqlite_database.script(["CREATE TABLE t (x INTEGER)"])
    return sqlite_database


async def test_a_quick_query_runs_on_the_event_loop_thread(db: SqliteDatabase) -> None:
    row = await db.fetchrow("SELECT thread_name() AS thread")
    assert row == {"thread": threading.current_thread().name}


async def test_a_long_query_is_stopped_and_finished_on_the_reader_thread(
    db: SqliteDatabase,
) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticking = asyncio.create_task(ticker())
    try:
        await asyncio.sleep(0)
        before = ticks
        row = await db.fetchrow(SLOW)
        assert row == {"n": 3_000_000, "thread": "sqlite-reader"}
        assert ticks > before + 5  # the loop went on while the thread counted
    finally:
        ticking.cancel()
    assert db._reader is not None and SLOW in db._reader.slow
    # From now on it goes to the thread at once.
    assert await db.fetchrow(SLOW) == {"n": 3_000_000, "thread": "sqlite-reader"}


async def test_a_write_lock_held_elsewhere_is_waited_for_on_the_writer_thread(
    db: SqliteDatabase,
) -> None:
    other = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    ticks = 0

    async def write() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (2)")
            waited = await tx.fetch("SELECT thread_name() AS thread")  # BEGIN included
            then = await tx.fetch("SELECT thread_name() AS thread")
        assert waited == [{"thread": "sqlite-writer"}]
        assert then == [{"thread": threading.current_thread().name}]  # back inline

    writing = asyncio.create_task(write())
    while ticks < 20:  # the loop is free while the writer thread waits for the lock
        ticks += 1
        await asyncio.sleep(0.005)
    assert not writing.done()
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(writing, 10)
    assert await db.fetch("SELECT x FROM t ORDER BY x") == [{"x": 1}, {"x": 2}]


async def test_the_writer_checkpoints_the_log_on_its_thread(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    loop = asyncio.get_running_loop()
    two = asyncio.Event()

    def checkpoint(conn: sqlite3.Connection) -> None:
        threads.append(threading.current_thread().name)
        if len(threads) == 2:
            loop.call_soon_threadsafe(two.set)

    monkeypatch.setattr(sqlite_adapter, "CHECKPOINT_EVERY", 4)
    monkeypatch.setattr(sqlite_adapter, "_checkpoint", checkpoint)
    for i in range(8):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES ($1)", i)
    await asyncio.wait_for(two.wait(), 5)
    assert threads == ["sqlite-writer", "sqlite-writer"]
