"""PostgreSQL transactions (read-model ones, ``durable=False``, here) bind every value as
a parameter: the values must come back unchanged, the errors must be the usual ones, and a
failed or cancelled transaction must leave nothing behind, neither rows nor an open
transaction."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from uuid import UUID

import asyncpg
import pytest

from app.adapters.sql.port import ExpectationFailed
from app.adapters.sql.postgres import PostgresDatabase

COLUMNS = "(k INTEGER PRIMARY KEY, t TEXT, i BIGINT, f DOUBLE PRECISION, b BOOLEAN, y BYTEA,"
COLUMNS += " u UUID, at TIMESTAMPTZ)"
INSERT = "INSERT INTO v (k, t, i, f, b, y, u, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"

TEXTS = [
    "",
    "plain",
    "it's",
    "''",
    "back\\slash\\'",
    "'); DROP TABLE v; --",
    "$1 $$ $body$",
    "line\nbreak\ttab",
    "ünïcødé 模型 🚀",
    "E'\\x41'",
]
NUMBERS = [0, -1, 2**63 - 1, -(2**63)]
FLOATS = [0.0, -0.0, 0.1, 0.9, -2.5e-300, 1.7976931348623157e308, math.inf, -math.inf]


@pytest.fixture
async def db(pg_database: PostgresDatabase) -> PostgresDatabase:
    await pg_database.script([f"CREATE TABLE v {COLUMNS}"])
    return pg_database


def rows_for_every_value() -> list[tuple[object, ...]]:
    moment = datetime(2026, 11, 23, 8, 30, 1, 123456, tzinfo=timezone(timedelta(hours=5)))
    rows: list[tuple[object, ...]] = []
    for k, text in enumerate(TEXTS):
        rows.append((k, text, None, None, None, None, None, None))
    for k, number in enumerate(NUMBERS, start=100):
        rows.append((k, None, number, float(number % 7), k % 2 == 0, None, None, None))
    for k, value in enumerate(FLOATS, start=200):
        rows.append((k, None, None, value, None, None, None, None))
    rows.append((300, None, None, None, None, bytes(range(256)), None, None))
    rows.append((301, None, None, None, None, b"", UUID(int=7), moment))
    rows.append((302, None, None, None, None, None, None, datetime(1999, 1, 1, tzinfo=UTC)))
    return rows


async def test_values_read_back_unchanged(db: PostgresDatabase) -> None:
    rows = rows_for_every_value()
    async with db.transaction(durable=False) as tx:
        await tx.executemany(INSERT, rows)
        await tx.execute(INSERT, 400, "single", 5, 0.5, True, b"x", UUID(int=1), None)
    got = await db.fetch("SELECT k, t, i, f, b, y, u, at FROM v ORDER BY k")
    assert [tuple(r.values()) for r in got] == [
        *rows,
        (400, "single", 5, 0.5, True, b"x", UUID(int=1), None),
    ]
    negative_zero = next(r["f"] for r in got if r["k"] == 201)
    assert math.copysign(1.0, negative_zero) == -1.0


async def test_nan_reads_back_as_nan(db: PostgresDatabase) -> None:
    async with db.transaction(durable=False) as tx:
        await tx.execute("INSERT INTO v (k, f) VALUES ($1, $2)", 1, math.nan)
    assert math.isnan(await db.fetchval("SELECT f FROM v"))


class Colour(str, Enum):  # noqa: UP042 (str() of such a member is its name)
    RED = "red"


async def test_placeholder_text_in_a_quoted_value_stays_text(db: PostgresDatabase) -> None:
    async with db.transaction(durable=False) as tx:
        await tx.execute("INSERT INTO v (k, t) VALUES ($1, '$2 and '' $1') ", 1)
        await tx.execute("INSERT INTO v (k, t) VALUES ($1, $2)", 2, Colour.RED)
    assert await db.fetch("SELECT k, t FROM v ORDER BY k") == [
        {"k": 1, "t": "$2 and ' $1"},
        {"k": 2, "t": "red"},
    ]


async def test_text_with_a_nul_character_is_refused(db: PostgresDatabase) -> None:
    with pytest.raises(asyncpg.PostgresError):
        async with db.transaction(durable=False) as tx:
            await tx.execute(INSERT, 1, "kept?", None, None, None, None, None, None)
            await tx.execute(INSERT, 2, "a\x00b", None, None, None, None, None, None)
    assert await db.fetchval("SELECT count(*) FROM v") == 0


async def test_each_statement_is_prepared_once_per_connection(db: PostgresDatabase) -> None:
    for k in range(10):
        async with db.transaction(durable=False) as tx:
            await tx.execute(INSERT, k, "x", None, None, None, None, None, None)
            await tx.execute("UPDATE v SET i = $2 WHERE k = $1", k, k * 2)
            prepared = await tx.fetchval(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE $1",
                "%$1%",
            )
            assert prepared <= 3  # on this connection: the INSERT, the UPDATE, this SELECT
    assert await db.fetchval("SELECT sum(i) FROM v") == 90


async def test_a_read_sees_the_writes_before_it(db: PostgresDatabase) -> None:
    async with db.transaction(durable=False) as tx:
        await tx.execute(INSERT, 1, "before", None, None, None, None, None, None)
        assert await tx.fetchval("SELECT t FROM v WHERE k = $1", 1) == "before"
        await tx.execute("UPDATE v SET t = $2 WHERE k = $1", 1, "after")
    assert await db.fetchval("SELECT t FROM v") == "after"


async def test_two_dimensional_arrays_are_bound_in_order(
    db: PostgresDatabase,
) -> None:
    await db.script(["CREATE TABLE a (k INTEGER, xs INTEGER[])"])
    async with db.transaction(durable=False) as tx:
        await tx.execute("INSERT INTO a (k, xs) VALUES ($1, $2)", 1, None)
        await tx.execute("INSERT INTO a (k, xs) VALUES ($1, $2)", 2, [[1, 2]])
        await tx.executemany("INSERT INTO a (k, xs) VALUES ($1, $2)", [(3, [[3]]), (4, [[4]])])
        await tx.execute("UPDATE a SET k = k * 10")
    rows = await db.fetch("SELECT k, xs FROM a ORDER BY k")
    assert rows == [
        {"k": 10, "xs": None},
        {"k": 20, "xs": [[1, 2]]},
        {"k": 30, "xs": [[3]]},
        {"k": 40, "xs": [[4]]},
    ]


async def test_one_dimensional_arrays_read_back_unchanged(db: PostgresDatabase) -> None:
    await db.script(
        ["CREATE TABLE a (k INTEGER, ts TEXT[], ns BIGINT[], us UUID[], bs BYTEA[], fs BOOLEAN[])"]
    )
    texts = [*TEXTS, "NULL", "a,b", "{x}", '"quoted"', " spaced ", None]
    row = (
        1,
        texts,
        [*NUMBERS, None],
        [UUID(int=1), UUID(int=2)],
        [bytes(range(256)), b""],
        [True, False],
    )
    async with db.transaction(durable=False) as tx:
        await tx.execute(
            "INSERT INTO a (k, ts, ns, us, bs, fs) VALUES ($1, $2, $3, $4, $5, $6)", *row
        )
        await tx.execute("INSERT INTO a (k, ts) VALUES ($1, $2)", 2, [])
    got = await db.fetch("SELECT * FROM a ORDER BY k")
    assert tuple(got[0].values()) == row
    assert got[1]["ts"] == []


async def test_a_failed_expectation_rolls_back_the_whole_transaction(
    db: PostgresDatabase,
) -> None:
    await db.script(["INSERT INTO v (k, t) VALUES (1, 'one'), (2, 'two')"])
    with pytest.raises(ExpectationFailed, match="expected 1 rows, got 2"):
        async with db.transaction(durable=False) as tx:
            await tx.execute(INSERT, 3, "three", None, None, None, None, None, None)
            await tx.expect("UPDATE v SET t = 'changed' WHERE k < $1 RETURNING k", 3, rows=1)
    assert await db.fetch("SELECT k, t FROM v ORDER BY k") == [
        {"k": 1, "t": "one"},
        {"k": 2, "t": "two"},
    ]
    async with db.transaction(durable=False) as tx:
        await tx.expect("UPDATE v SET t = 'changed' WHERE k < $1 RETURNING k", 3, rows=2)
    assert await db.fetchval("SELECT count(*) FROM v WHERE t = 'changed'") == 2


@pytest.mark.parametrize("read_first", [False, True])
async def test_a_failing_write_raises_its_error_and_leaves_nothing(
    db: PostgresDatabase, read_first: bool
) -> None:
    """With a read in between the transaction is open on the server (BEGIN was sent):
    it must be rolled back before the connection goes back to the pool."""
    with pytest.raises(asyncpg.UniqueViolationError):
        async with db.transaction(durable=False) as tx:
            await tx.execute(INSERT, 1, "first", None, None, None, None, None, None)
            if read_first:
                await tx.fetch("SELECT 1")
            await tx.execute(INSERT, 1, "again", None, None, None, None, None, None)
    assert await db.fetchval("SELECT count(*) FROM v") == 0
    await assert_pool_is_clean(db)


async def test_an_exception_in_the_body_sends_nothing(db: PostgresDatabase) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction(durable=False) as tx:
            await tx.execute(INSERT, 1, "lost", None, None, None, None, None, None)
            await tx.fetch("SELECT 1")
            await tx.execute(INSERT, 2, "never sent", None, None, None, None, None, None)
            raise RuntimeError("handler failed")
    assert await db.fetchval("SELECT count(*) FROM v") == 0
    await assert_pool_is_clean(db)


async def test_a_cancelled_transaction_leaves_no_open_transaction(db: PostgresDatabase) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with db.transaction(durable=False) as tx:
            await tx.fetch("SELECT 1")  # the transaction is open on the server from here
            await tx.execute(INSERT, 1, "slow", None, None, None, None, None, None)
            started.set()
            await tx.execute("SELECT pg_sleep(5)")

    task = asyncio.create_task(slow())
    await started.wait()
    await asyncio.sleep(0.2)  # the transaction is running pg_sleep
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.fetchval("SELECT count(*) FROM v") == 0
    await assert_pool_is_clean(db)


async def assert_pool_is_clean(db: PostgresDatabase) -> None:
    """Every connection of the read-model pool is outside a transaction, and a new
    transaction on each one works."""
    for _ in range(3):
        async with db.transaction(durable=False) as tx:
            await tx.execute(INSERT, 99, "probe", None, None, None, None, None, None)
            assert await tx.fetchval("SELECT count(*) FROM v WHERE k = 99") == 1
            await tx.execute("DELETE FROM v WHERE k = 99")
    conns = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state LIKE 'idle in transaction%'"
    )
    assert conns == 0
