"""PostgreSQL through asyncpg connections (a pool of our own: :mod:`app.adapters.sql.pg_pool`).

Durable transactions run statement by statement (a round trip each). Read-model
transactions (``durable=False``), and durable ones asked for ``pipelined`` (an append
with its projection), hold their writes and send them together in one simple-protocol
message, so one round trip, at the next read or at the commit: each write as ``EXECUTE``
of a statement the connection has prepared (see :class:`Prepared`), with its values
written in as literals (one-dimensional arrays too). asyncpg cannot pipeline different
prepared statements, and a projection's handful of small writes cost far more in round
trips than in sending their values as text.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.adapters.sql.pg_pool import ConnectionPool
from app.adapters.sql.port import (
    Database,
    DatabaseUnavailable,
    ExpectationFailed,
    Row,
    Tx,
    mask_url,
)

# A placeholder, or text where "$1" is not one: a quoted literal or identifier, a comment.
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\$(\d+)")
# Raised by modelrepo_expect() when a statement given to Tx.expect returned another count.
EXPECTATION_FAILED = "MRX01"
SETUP_LOCK_KEY = 0x6D6F64656C7266  # "modelrf": serializes the function's creation
EXPECT_FUNCTION = f"""
CREATE OR REPLACE FUNCTION modelrepo_expect(got BIGINT, wanted BIGINT, statement TEXT)
RETURNS VOID LANGUAGE plpgsql AS $body$
BEGIN
    IF got <> wanted THEN
        RAISE EXCEPTION 'expected % rows, got %: %', wanted, got, statement
            USING ERRCODE = '{EXPECTATION_FAILED}';
    END IF;
END
$body$
"""


class PostgresTx(Tx):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await self.conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self.conn.fetch(sql, *args)]


class _Unsupported(TypeError):
    """A value with no literal form here: its statement runs as a prepared statement."""


def literal(value: Any) -> str:
    """A value as SQL text that PostgreSQL reads back as the same value. Strings become
    untyped literals (the context gives their type, as it does a parameter's); the
    connections run with standard_conforming_strings on, so only quotes are doubled."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return f"({int(value)})"
    if isinstance(value, float):  # typed: a numeric literal would lose -0.0
        return f"'{value!r}'::float8"
    if isinstance(value, str | UUID):
        # str.__str__: a str subclass's own text (str() of a (str, Enum) member is its name)
        text = str.__str__(value) if isinstance(value, str) else str(value)
        if "\x00" in text:
            raise ValueError("a text value cannot contain NUL characters")
        return "'" + text.replace("'", "''") + "'"
    if isinstance(value, bytes):
        return f"'\\x{value.hex()}'::bytea"
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, list | tuple):
        # An untyped array literal: the context gives its element type, as for a string.
        text = "{" + ",".join(_array_element(item) for item in value) + "}"
        return "'" + text.replace("'", "''") + "'"
    raise _Unsupported(f"no SQL literal for {type(value).__name__}")


def _array_element(value: Any) -> str:
    """One element of a one-dimensional array literal, double-quoted (so that a text
    "NULL" or one with commas or braces stays itself) with quotes and backslashes
    escaped."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        text = "t" if value else "f"
    elif isinstance(value, int):
        text = str(int(value))
    elif isinstance(value, str | UUID):
        text = str.__str__(value) if isinstance(value, str) else str(value)
        if "\x00" in text:
            raise ValueError("a text value cannot contain NUL characters")
    elif isinstance(value, bytes):
        text = "\\x" + value.hex()
    else:
        raise _Unsupported(f"no SQL array element for {type(value).__name__}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def inline(sql: str, args: Sequence[Any]) -> str:
    """``sql`` with its ``$n`` placeholders replaced by the literals of ``args``."""
    return _substitute(sql, [literal(value) for value in args])


def _substitute(sql: str, literals: Sequence[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        number = match.group(1)
        return match.group(0) if number is None else literals[int(number) - 1]

    return _PLACEHOLDER.sub(replace, sql)


class Prepared:
    """The statements one read-model connection has prepared (SQL -> name), so that a
    message runs ``EXECUTE name(literals)``: the server plans a statement once per
    connection, not on every use. A statement new to the connection is prepared in a
    message of its own first: a failing statement of the main message must not leave it
    unknown whether its PREPARE ran (prepared statements outlive a rollback)."""

    LIMIT = 256  # beyond this many, further statements are sent as plain literals

    def __init__(self, names: Iterator[str]) -> None:
        self.names = names
        self.known: dict[str, str] = {}

    async def prepare(self, conn: asyncpg.Connection, statements: Sequence[str]) -> None:
        fresh: dict[str, str] = {}
        for sql in statements:
            if sql not in self.known and sql not in fresh:
                if len(self.known) + len(fresh) >= self.LIMIT:
                    break
                fresh[sql] = next(self.names)
        if fresh:
            await conn.execute(";\n".join(f"PREPARE {n} AS {sql}" for sql, n in fresh.items()))
            self.known.update(fresh)

    def render(self, sql: str, literals: Sequence[str]) -> str:
        name = self.known.get(sql)
        if name is None:
            return _substitute(sql, literals)
        return f"EXECUTE {name}({', '.join(literals)})" if literals else f"EXECUTE {name}"


class _PipelinedTx(PostgresTx):
    """Writes wait for the next read or the commit, then go in one message; reads see the
    writes before them. Errors of held writes surface there (the same asyncpg errors)."""

    def __init__(self, conn: asyncpg.Connection, prepared: Prepared) -> None:
        super().__init__(conn)
        self._prepared = prepared
        self._held: list[tuple[str, list[str]]] = []
        self._begun = False

    async def execute(self, sql: str, *args: Any) -> None:
        try:
            self._held.append((sql, [literal(value) for value in args]))
        except _Unsupported:
            await self._flush()
            await super().execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._held.extend([(sql, [literal(value) for value in row]) for row in rows])
        except _Unsupported:
            await self._flush()
            await super().executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        await self._flush()
        return await super().fetch(sql, *args)

    async def expect(self, sql: str, *args: Any, rows: int) -> None:
        """Held like a write: the server counts the rows and raises when they differ."""
        try:
            literals = [literal(value) for value in args]
        except _Unsupported:
            await self._flush()
            await super().expect(sql, *args, rows=rows)
            return
        counted = (
            f"WITH expected AS ({sql}) SELECT modelrepo_expect(count(*), {rows},"
            f" {literal(sql)}) FROM expected"
        )
        self._held.append((counted, literals))

    async def _flush(self, *, commit: bool = False) -> None:
        """Send the held writes. The first send opens the transaction, unless it is also the
        last: then the statements run as one message's implicit transaction."""
        held, self._held = self._held, []
        try:
            await self._prepared.prepare(self.conn, [sql for sql, _ in held])
            statements = [self._prepared.render(sql, literals) for sql, literals in held]
            if not self._begun and not commit:
                statements.insert(0, "BEGIN")
                self._begun = True
            elif self._begun and commit:
                statements.append("COMMIT")
            if statements:
                await self.conn.execute(";\n".join(statements))
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == EXPECTATION_FAILED:
                raise ExpectationFailed(str(exc)) from exc
            raise

    async def commit(self) -> None:
        await self._flush(commit=True)


async def _abandon(conn: asyncpg.Connection) -> None:
    """Roll back what a failed or cancelled transaction left open. A connection that cannot
    say (a query still being cancelled, say) is closed: the pool must not hand it out in a
    transaction (it has no reset)."""
    if not conn.is_in_transaction():
        return
    try:
        await conn.execute("ROLLBACK")
    except Exception:
        conn.terminate()


class PostgresDatabase(Database):
    dialect = "postgres"

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.url = url
        self._pool: ConnectionPool | None = None
        self._derived: ConnectionPool | None = None  # transaction(durable=False)
        self._min_size = min_size
        self._max_size = max_size
        # Server process ids of the pool's connections: a notification from one of them
        # is this process's own doing.
        self.backend_pids: set[int] = set()
        self._prepared: dict[int, Prepared] = {}  # by server process id
        self._statement_names = (f"modelrepo_{n}" for n in itertools.count(1))

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            raise DatabaseUnavailable(f"database {mask_url(self.url)} is not open")
        return self._pool

    @property
    def dsn(self) -> str:
        return self.url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def open(self) -> None:
        try:
            # Pipelined transactions' literals need standard_conforming_strings.
            literals = {"standard_conforming_strings": "on"}
            self._pool = await self._open_pool(self._min_size, self._max_size, literals)
            # A few connections whose commits do not wait for the WAL flush, for
            # read-model transactions.
            self._derived = await self._open_pool(1, 2, {**literals, "synchronous_commit": "off"})
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", SETUP_LOCK_KEY)
                await conn.execute(EXPECT_FUNCTION)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            await self.close()
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {mask_url(self.url)}: {exc}"
            ) from exc

    async def _open_pool(
        self, min_size: int, max_size: int, server_settings: dict[str, str] | None = None
    ) -> ConnectionPool:
        pool = ConnectionPool(
            self.dsn,
            min_size=min_size,
            max_size=max_size,
            connect_timeout=10,
            init=self._remember_pid,
            server_settings=server_settings,
        )
        await pool.open()
        return pool

    async def _remember_pid(self, conn: asyncpg.Connection) -> None:
        """Runs for every new connection (a new server process: nothing prepared yet)."""
        pid = conn.get_server_pid()
        self.backend_pids.add(pid)
        self._prepared[pid] = Prepared(self._statement_names)

    async def close(self) -> None:
        for pool in (self._pool, self._derived):
            if pool is not None:
                await pool.close()
        self._pool = self._derived = None

    @asynccontextmanager
    async def transaction(
        self, *, durable: bool = True, pipelined: bool = False
    ) -> AsyncIterator[Tx]:
        """``durable=False`` transactions are pipelined (see the module's docstring);
        ``pipelined`` makes a durable one so too (an append with its projection)."""
        if (durable and not pipelined) or self._derived is None:
            async with self.pool.acquire() as conn, conn.transaction():
                yield PostgresTx(conn)
            return
        async with (self.pool if durable else self._derived).acquire() as conn:
            pid = conn.get_server_pid()
            prepared = self._prepared.setdefault(pid, Prepared(self._statement_names))
            tx = _PipelinedTx(conn, prepared)
            try:
                yield tx
                await tx.commit()
            except BaseException:
                await _abandon(conn)
                raise

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Tx]:
        async with self.pool.acquire() as conn:
            yield PostgresTx(conn)
