"""SQLite: one writer connection (``BEGIN IMMEDIATE``), one reader, WAL.

Each connection lives on a thread of its own and every use of it is one call to that
thread, so the number of calls is what a transaction costs. A write transaction therefore
queues its writes and sends them with its next read or with the commit: a transaction that
only writes (a projection applying events) is one call — BEGIN, the statements, COMMIT —
and a statement that fails rolls the transaction back within the same call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from app.adapters.sql.port import Database, DatabaseUnavailable, ExpectationFailed, Row, Tx

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"\$(\d+)")
BUSY_TIMEOUT_MS = 30_000


@functools.lru_cache(maxsize=1024)
def _sql(sql: str) -> str:
    """``$1`` placeholders (PostgreSQL's, which the SQL is written in) to ``?1``."""
    return _PLACEHOLDER.sub(r"?\1", sql)


def sqlite_path(url: str) -> str:
    """``sqlite:///relative/file.db`` or ``sqlite:////absolute/file.db`` to a path."""
    if not url.startswith("sqlite://"):
        raise ValueError(f"not a sqlite URL: {url}")
    rest = url.removeprefix("sqlite://")
    return rest[1:] if rest.startswith("/") else rest


class _Connection:
    """A sqlite3 connection used only from its own thread, which takes calls in order. A
    call that is cancelled before the thread starts it never runs.

    A call costs a queue put, the thread's work and one wake-up of the event loop: about
    half of what ``run_in_executor`` costs (its futures chain through locks and
    callbacks), which matters because a command makes several calls."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=_serve, args=(self._calls,), name=f"sqlite-{name}", daemon=True
        )
        self._thread.start()
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        self._conn = await self._run(_connect, self.path)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._conn is None:
            raise DatabaseUnavailable(f"SQLite database {self.path} is not open")
        return await self._run(fn, self._conn, *args)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put(_Call(loop, future, fn, args))
        return await future

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                await self._run(conn.close)
        self._calls.put(None)  # the thread ends after the calls before it


@dataclass(frozen=True, slots=True)
class _Call:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]


def _serve(calls: queue.SimpleQueue[_Call | None]) -> None:
    """The connection's thread: runs each call and hands its outcome to the caller's loop."""
    while (call := calls.get()) is not None:
        if call.future.cancelled():  # the caller has gone: the call never starts
            continue
        try:
            result = call.fn(*call.args)
        except BaseException as exc:  # handed to the caller, raised there
            outcome: tuple[Any, BaseException | None] = (None, exc)
        else:
            outcome = (result, None)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            call.loop.call_soon_threadsafe(_settle, call.future, *outcome)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled while the call ran
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    args: Any
    many: bool = False
    rows: int | None = None  # from Tx.expect: the rows it must return


def _fetch(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Row]:
    # One step: a cursor left open between calls would let another coroutine's query run
    # inside its read transaction, on an old snapshot.
    return [dict(row) for row in conn.execute(sql, args).fetchall()]


def _send(
    conn: sqlite3.Connection,
    begin: bool,
    statements: list[_Statement],
    read: _Statement | None,
    commit: bool,
) -> list[Row]:
    """One call on the writer's thread: maybe BEGIN, the queued statements, maybe a read,
    maybe COMMIT; any failure rolls the transaction back before it is raised."""
    try:
        if begin:
            conn.execute("BEGIN IMMEDIATE")
        for statement in statements:
            if statement.many:
                conn.executemany(statement.sql, statement.args)
            elif statement.rows is not None:
                got = len(conn.execute(statement.sql, statement.args).fetchall())
                if got != statement.rows:
                    raise ExpectationFailed(
                        f"expected {statement.rows} rows, got {got}: {statement.sql}"
                    )
            else:
                conn.execute(statement.sql, statement.args)
        rows = _fetch(conn, read.sql, read.args) if read is not None else []
        if commit and conn.in_transaction:
            conn.execute("COMMIT")
        return rows
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


class _WriteTx(Tx):
    """Writes wait for the next read or the commit; reads see the writes before them."""

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn
        self._queued: list[_Statement] = []
        self._begun = False

    async def execute(self, sql: str, *args: Any) -> None:
        self._queued.append(_Statement(_sql(sql), args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._queued.append(_Statement(_sql(sql), [tuple(row) for row in rows], many=True))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._flush(read=_Statement(_sql(sql), args))

    async def expect(self, sql: str, *args: Any, rows: int) -> None:
        """Queued like a write: checked on the connection's thread when it is sent."""
        self._queued.append(_Statement(_sql(sql), args, rows=rows))

    async def commit(self) -> None:
        if self._queued or self._begun:
            await self._flush(commit=True)

    async def _flush(self, *, read: _Statement | None = None, commit: bool = False) -> list[Row]:
        statements, self._queued = self._queued, []
        begin, self._begun = not self._begun, True
        return await self._conn.call(_send, begin, statements, read, commit)


class _ReadTx(Tx):
    def __init__(self, conn: _Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await self._conn.call(_fetch, _sql(sql), args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise TypeError("the SQLite reader does not write")

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._conn.call(_fetch, _sql(sql), args)


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._writer: _Connection | None = None
        self._reader: _Connection | None = None
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._writer = _Connection(self.path, "writer")
            await self._writer.open()
            self._reader = _Connection(self.path, "reader")
            await self._reader.open()
        except (OSError, sqlite3.Error) as exc:
            await self.close()
            raise DatabaseUnavailable(f"cannot open SQLite database {self.url}: {exc}") from exc

    async def close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = None

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[Tx]:
        # Every commit is as durable as synchronous=NORMAL makes it (WAL: no sync per
        # commit), so ``durable`` changes nothing here.
        if self._writer is None:
            raise DatabaseUnavailable(f"database {self.url} is not open")
        async with self._write_lock:
            conn = self._writer
            tx = _WriteTx(conn)
            try:
                yield tx
                await tx.commit()
            except BaseException:
                # A call cancelled while it ran may have left the transaction open; this
                # call queues behind it on the same thread. Shielded: a second cancel must
                # not skip it, or every later transaction would fail.
                await asyncio.shield(conn.call(_rollback))
                raise

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Tx]:
        if self._reader is None:
            raise DatabaseUnavailable(f"database {self.url} is not open")
        yield _ReadTx(self._reader)
