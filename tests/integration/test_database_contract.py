"""The SQL database port's contract: one abstract test case, run against every adapter.

A subclass provides ``db``: an open database with an empty schema. Statements are written
once, with ``$n`` placeholders, in the portable SQL the read models use; values of the
types only one backend takes (UUID, timestamptz, arrays, jsonb on PostgreSQL) have tests
of their own in that backend's subclass.
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from uuid import UUID

import pytest

from app.adapters.sql.port import Database, ExpectationFailed
from app.adapters.sql.postgres import COPY_FROM_ROWS, PostgresDatabase
from app.adapters.sql.sqlite import SqliteDatabase

TABLE = (
    "CREATE TABLE v (k INTEGER PRIMARY KEY, t TEXT, i BIGINT, f DOUBLE PRECISION,"
    " b BOOLEAN, y BYTEA)"
)
INSERT = "INSERT INTO v (k, t, i, f, b, y) VALUES ($1, $2, $3, $4, $5, $6)"
COLUMNS = ("k", "t", "i", "f", "b", "y")

TEXTS = [
    "",
    "plain",
    "it's",
    "''",
    'double "quoted"',
    "back\\slash\\'",
    "'); DROP TABLE v; --",
    "$1 $2 $$ $body$",
    "?1 ? :name",
    "line\nbreak\ttab",
    "ünïcødé 模型 🚀",
    "E'\\x41'",
    "NULL",
    "{a,b}",
    json.dumps({"quote": "it's", "slash": "a\\b", "list": [1, None, "$1"]}),
]
INTEGERS = [0, 1, -1, 2**31, 2**63 - 1, -(2**63)]
FLOATS = [0.0, 0.1, 0.9, -2.5e-300, 1.7976931348623157e308, math.inf, -math.inf]
BLOBS = [b"", b"\x00", bytes(range(256)), b"'\\"]


class Colour(str, Enum):  # noqa: UP042 (str() of such a member is its name, not its value)
    RED = "red-value"


def row(k: int, **values: object) -> tuple[object, ...]:
    return (k, values.get("t"), values.get("i"), values.get("f"), values.get("b"), values.get("y"))


class DatabaseContract:
    @pytest.fixture
    async def table(self, db: Database) -> Database:
        await db.script([TABLE])
        return db

    async def count(self, db: Database) -> int:
        return int(await db.fetchval("SELECT count(*) AS n FROM v"))

    # -- values --------------------------------------------------------------------------

    async def test_text_values_read_back_unchanged(self, table: Database) -> None:
        async with table.transaction() as tx:
            for k, text in enumerate(TEXTS):
                await tx.execute(INSERT, *row(k, t=text))
        got = await table.fetch("SELECT k, t FROM v ORDER BY k")
        assert [r["t"] for r in got] == TEXTS
        for k, text in enumerate(TEXTS):  # and compare equal as parameters
            assert await table.fetchval("SELECT k FROM v WHERE t = $1", text) == k

    @pytest.mark.parametrize("durable", [True, False])
    async def test_numbers_booleans_bytes_and_none_read_back_unchanged(
        self, table: Database, durable: bool
    ) -> None:
        rows = [row(k, i=n, b=k % 2 == 0) for k, n in enumerate(INTEGERS)]
        rows += [row(100 + k, f=x) for k, x in enumerate(FLOATS)]
        rows += [row(200 + k, y=blob) for k, blob in enumerate(BLOBS)]
        rows += [row(300)]
        async with table.transaction(durable=durable) as tx:
            for values in rows:
                await tx.execute(INSERT, *values)
        got = await table.fetch("SELECT k, t, i, f, b, y FROM v ORDER BY k")
        assert [tuple(r.values()) for r in got] == rows
        assert await table.fetchval("SELECT k FROM v WHERE i = $1", 2**63 - 1) == 4
        assert await table.fetchval("SELECT k FROM v WHERE y = $1", bytes(range(256))) == 202

    async def test_a_str_enum_member_is_bound_as_its_value(self, table: Database) -> None:
        async with table.transaction(durable=False) as tx:
            await tx.execute(INSERT, *row(1, t=Colour.RED))
        assert await table.fetchval("SELECT t FROM v") == "red-value"

    async def test_placeholder_text_inside_a_string_literal_stays_text(
        self, table: Database
    ) -> None:
        for durable in (True, False):
            async with table.transaction(durable=durable) as tx:
                await tx.execute(
                    "INSERT INTO v (k, t, i) VALUES ($1, 'it''s $1 and $2', $2)",
                    int(durable),
                    7,
                )
        got = await table.fetch("SELECT k, t, i FROM v ORDER BY k")
        assert got == [
            {"k": 0, "t": "it's $1 and $2", "i": 7},
            {"k": 1, "t": "it's $1 and $2", "i": 7},
        ]
        assert await table.fetchval("SELECT count(*) FROM v WHERE t = '$1' OR i = $1", 7) == 2

    # -- reads ---------------------------------------------------------------------------

    async def test_fetch_fetchrow_and_fetchval(self, table: Database) -> None:
        assert await table.fetch("SELECT k FROM v") == []
        assert await table.fetchrow("SELECT k FROM v") is None
        assert await table.fetchval("SELECT k FROM v") is None
        await table.script(["INSERT INTO v (k, t) VALUES (1, 'one'), (2, 'two')"])
        assert await table.fetch("SELECT k, t FROM v ORDER BY k") == [
            {"k": 1, "t": "one"},
            {"k": 2, "t": "two"},
        ]
        assert await table.fetchrow("SELECT t FROM v WHERE k = $1", 2) == {"t": "two"}
        assert await table.fetchval("SELECT t FROM v WHERE k = $1", 1) == "one"
        async with table.reader() as reader:
            assert await reader.fetchval("SELECT count(*) FROM v WHERE k > $1", 0) == 2

    # -- transactions --------------------------------------------------------------------

    @pytest.mark.parametrize("durable", [True, False])
    async def test_a_transaction_commits_and_its_reads_see_its_writes(
        self, table: Database, durable: bool
    ) -> None:
        async with table.transaction(durable=durable) as tx:
            await tx.execute(INSERT, *row(1, t="one"))
            assert await tx.fetchval("SELECT t FROM v WHERE k = $1", 1) == "one"
            await tx.execute("UPDATE v SET t = $1 WHERE k = $2", "uno", 1)
            await tx.execute(INSERT, *row(2, t="two"))
        assert await table.fetch("SELECT k, t FROM v ORDER BY k") == [
            {"k": 1, "t": "uno"},
            {"k": 2, "t": "two"},
        ]

    @pytest.mark.parametrize("durable", [True, False])
    @pytest.mark.parametrize("read_first", [False, True])
    async def test_an_exception_rolls_the_transaction_back(
        self, table: Database, durable: bool, read_first: bool
    ) -> None:
        with pytest.raises(RuntimeError, match="handler failed"):
            async with table.transaction(durable=durable) as tx:
                await tx.execute(INSERT, *row(1, t="lost"))
                if read_first:
                    assert await tx.fetchval("SELECT count(*) FROM v") == 1
                await tx.execute(INSERT, *row(2, t="lost too"))
                raise RuntimeError("handler failed")
        assert await self.count(table) == 0
        await self.assert_usable(table, durable)

    @pytest.mark.parametrize("durable", [True, False])
    @pytest.mark.parametrize("read_first", [False, True])
    async def test_a_failing_write_raises_and_leaves_nothing(
        self, table: Database, durable: bool, read_first: bool
    ) -> None:
        with pytest.raises(Exception) as failure:
            async with table.transaction(durable=durable) as tx:
                await tx.execute(INSERT, *row(1, t="first"))
                if read_first:
                    await tx.fetch("SELECT 1 AS one")
                await tx.execute(INSERT, *row(1, t="again"))
        assert "unique" in str(failure.value).lower()
        assert await self.count(table) == 0
        await self.assert_usable(table, durable)

    async def test_a_cancelled_transaction_leaves_nothing(self, table: Database) -> None:
        started = asyncio.Event()

        async def held() -> None:
            async with table.transaction(durable=False) as tx:
                await tx.execute(INSERT, *row(1, t="cancelled"))
                await tx.fetch("SELECT 1 AS one")
                started.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(held())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await self.count(table) == 0
        await self.assert_usable(table, False)

    @pytest.mark.parametrize("durable", [True, False])
    async def test_executemany_writes_every_row(self, table: Database, durable: bool) -> None:
        rows = [row(k, t=text, i=k * 10) for k, text in enumerate(TEXTS)]
        async with table.transaction(durable=durable) as tx:
            await tx.executemany(INSERT, rows)
            await tx.executemany("UPDATE v SET i = $2 WHERE k = $1", [(0, -1), (1, -2)])
        got = await table.fetch("SELECT k, t, i FROM v ORDER BY k")
        assert [r["t"] for r in got] == TEXTS
        assert [r["i"] for r in got][:3] == [-1, -2, 20]

    # -- insert_rows (COPY on PostgreSQL from COPY_FROM_ROWS rows) -----------------------

    @pytest.mark.parametrize("count", [3, COPY_FROM_ROWS + 50])
    async def test_insert_rows_writes_every_row(self, table: Database, count: int) -> None:
        rows = [
            row(
                k,
                t=TEXTS[k % len(TEXTS)],
                i=INTEGERS[k % len(INTEGERS)],
                f=FLOATS[k % len(FLOATS)],
                b=k % 3 == 0,
                y=BLOBS[k % len(BLOBS)],
            )
            if k % 5
            else row(k)
            for k in range(count)
        ]
        async with table.transaction(durable=False) as tx:
            await tx.insert_rows("v", COLUMNS, rows)
            await tx.insert_rows("v", COLUMNS, [])
            assert await tx.fetchval("SELECT count(*) FROM v") == count
        got = await table.fetch("SELECT k, t, i, f, b, y FROM v ORDER BY k")
        assert [tuple(r.values()) for r in got] == rows

    @pytest.mark.parametrize("count", [1, COPY_FROM_ROWS])
    async def test_insert_rows_into_some_columns_binds_enums_as_values(
        self, table: Database, count: int
    ) -> None:
        async with table.transaction() as tx:
            await tx.insert_rows("v", ("t", "k"), [(Colour.RED, k) for k in range(count)])
        assert await table.fetch("SELECT DISTINCT t, i FROM v") == [{"t": "red-value", "i": None}]

    @pytest.mark.parametrize("count", [2, COPY_FROM_ROWS])
    async def test_a_failing_insert_rows_leaves_nothing(self, table: Database, count: int) -> None:
        with pytest.raises(Exception) as failure:
            async with table.transaction(durable=False) as tx:
                await tx.execute(INSERT, *row(0, t="first"))
                await tx.insert_rows("v", ("k",), [(k,) for k in range(count)])
        assert "unique" in str(failure.value).lower()
        assert await self.count(table) == 0
        await self.assert_usable(table, False)

    @pytest.mark.parametrize("count", [1, COPY_FROM_ROWS])
    async def test_insert_rows_takes_identifiers_only(self, table: Database, count: int) -> None:
        for table_name, columns in (("v; DROP TABLE v", ("k",)), ("v", ("k) VALUES (1); --",))):
            with pytest.raises(ValueError, match="not an SQL identifier"):
                async with table.transaction() as tx:
                    await tx.insert_rows(table_name, columns, [(k,) for k in range(count)])
        assert await self.count(table) == 0

    # -- expect --------------------------------------------------------------------------

    @pytest.mark.parametrize("durable", [True, False])
    async def test_expect_passes_on_the_right_row_count(
        self, table: Database, durable: bool
    ) -> None:
        await table.script(["INSERT INTO v (k, t) VALUES (1, 'one'), (2, 'two')"])
        async with table.transaction(durable=durable) as tx:
            await tx.expect("UPDATE v SET t = $1 WHERE k < $2 RETURNING k", "x", 3, rows=2)
            await tx.expect("UPDATE v SET i = $1 WHERE k > $2 RETURNING k", 5, 9, rows=0)
        assert await table.fetchval("SELECT count(*) FROM v WHERE t = 'x'") == 2

    @pytest.mark.parametrize("durable", [True, False])
    async def test_a_failed_expectation_rolls_back_the_whole_transaction(
        self, table: Database, durable: bool
    ) -> None:
        await table.script(["INSERT INTO v (k, t) VALUES (1, 'one'), (2, 'two')"])
        with pytest.raises(ExpectationFailed, match="expected 1 rows, got 2"):
            async with table.transaction(durable=durable) as tx:
                await tx.execute(INSERT, *row(3, t="three"))
                await tx.expect("UPDATE v SET t = 'changed' WHERE k < $1 RETURNING k", 3, rows=1)
                await tx.execute(INSERT, *row(4, t="four"))
        assert await table.fetch("SELECT k, t FROM v ORDER BY k") == [
            {"k": 1, "t": "one"},
            {"k": 2, "t": "two"},
        ]
        await self.assert_usable(table, durable)

    # -- helpers -------------------------------------------------------------------------

    async def assert_usable(self, db: Database, durable: bool) -> None:
        """Every connection a transaction may get is outside a transaction and works."""
        for _ in range(3):
            async with db.transaction(durable=durable) as tx:
                await tx.execute(INSERT, *row(99, t="probe"))
                assert await tx.fetchval("SELECT count(*) FROM v WHERE k = $1", 99) == 1
                await tx.execute("DELETE FROM v WHERE k = $1", 99)
        assert await db.fetchval("SELECT count(*) FROM v WHERE k = $1", 99) == 0


class TestSqliteDatabase(DatabaseContract):
    @pytest.fixture
    def db(self, sqlite_database: SqliteDatabase) -> Database:
        return sqlite_database


class TestPostgresDatabase(DatabaseContract):
    @pytest.fixture
    def db(self, pg_database: PostgresDatabase) -> Database:
        return pg_database

    @pytest.mark.parametrize("durable", [True, False])
    async def test_postgres_types_read_back_unchanged(
        self, db: PostgresDatabase, durable: bool
    ) -> None:
        moment = datetime(2026, 11, 23, 8, 30, 1, 123456, tzinfo=timezone(timedelta(hours=5)))
        document = {"quote": "it's", "slash": "a\\b", "placeholder": "$1", "n": [1, None]}
        await db.script(
            [
                "CREATE TABLE p (k INTEGER PRIMARY KEY, u UUID, at TIMESTAMPTZ, f FLOAT8,"
                " ts TEXT[], ns BIGINT[], us UUID[], ys BYTEA[], j JSONB)"
            ]
        )
        insert = "INSERT INTO p VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)"
        rows = [
            (1, UUID(int=7), moment, -0.0, TEXTS, [0, None, 2**63 - 1], [UUID(int=1)],
             [b"", b"\x00'\\"], json.dumps(document)),
            (2, None, datetime(1999, 1, 1, tzinfo=UTC), math.nan, ["NULL", None, '"', ","],
             [], [], [], None),
        ]  # fmt: skip
        async with db.transaction(durable=durable) as tx:
            for values in rows:
                await tx.execute(insert, *values)
        got = [tuple(r.values()) for r in await db.fetch("SELECT * FROM p ORDER BY k")]
        first, second = got
        assert first[:3] == rows[0][:3] and first[4:8] == rows[0][4:8]
        assert math.copysign(1.0, first[3]) == -1.0
        assert json.loads(first[8]) == document
        assert second[:3] == rows[1][:3] and second[4:] == rows[1][4:]
        assert math.isnan(second[3])
        assert await db.fetchval("SELECT k FROM p WHERE at = $1", moment) == 1
        assert await db.fetchval("SELECT k FROM p WHERE $1 = ANY(ts)", "$1 $2 $$ $body$") == 1
