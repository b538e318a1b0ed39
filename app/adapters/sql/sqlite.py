"""SQLite: one writer connection (``BEGIN IMMEDIATE``), one reader, WAL.

Each connection has a thread of its own, and every use of it is one call. A call runs
right away on the event loop's thread when the connection's thread is idle and the call
cannot wait long: SQLite answers small statements in microseconds, while a trip to a
thread and back costs a hundred or more. What could wait goes to the thread instead:

- a BEGIN IMMEDIATE that finds the write lock taken (another process writes): the thread
  waits for it (the connections never wait themselves: busy_timeout is 0 and the thread
  retries, for up to BUSY_TIMEOUT_MS);
- a SELECT that runs longer than INLINE_BUDGET_S: SQLite interrupts it, the thread runs it
  again, and that statement goes to the thread from then on;
- the WAL checkpoint, which syncs the database file: the writer checkpoints every
  CHECKPOINT_EVERY commits on its thread instead of after the commit that fills the WAL.

A write transaction queues its writes and sends them with its next read or with the
commit: a transaction that only writes (a projection applying events) is one call —
BEGIN, the statements, COMMIT — and a statement that fails rolls the transaction back
within the same call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from app.adapters.sql.port import Database, DatabaseUnavailable, ExpectationFailed, Row, Tx

T = TypeVar("T")
# A placeholder, or text where "$1" is not one: a quoted literal or identifier, a comment.
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\$(\d+)")
BUSY_TIMEOUT_MS = 30_000
INLINE_BUDGET_S = 0.002
CHECKPOINT_EVERY = 256


@functools.lru_cache(maxsize=1024)
def _sql(sql: str) -> str:
    """``$1`` placeholders (PostgreSQL's, which the SQL is written in) to ``?1``; the
    statement's text is otherwise left as it is (``'$1'`` stays a string)."""
    return _PLACEHOLDER.sub(lambda m: m[0] if m[1] is None else f"?{m[1]}", sql)


def sqlite_path(url: str) -> str:
    """``sqlite:///relative/file.db`` or ``sqlite:////absolute/file.db`` to a path."""
    if not url.startswith("sqlite://"):
        raise ValueError(f"not a sqlite URL: {url}")
    rest = url.removeprefix("sqlite://")
    return rest[1:] if rest.startswith("/") else rest


class _Moved(Exception):
    """Raised by a call running inline: the rest of it (``fn(conn, *args)``) must run on
    the connection's thread."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn = fn
        self.args = args


class _Connection:
    """A sqlite3 connection with a thread of its own, which takes calls in order; a call
    that is cancelled before the thread starts it never runs. When the thread has nothing
    to do, a call runs inline (see the module's docstring): the call gets ``inline=True``
    and raises _Moved for what must go to the thread."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        # Calls handed to the thread, and how many of them it is done with (it counts
        # those itself): equal when it is idle.
        self._handed = 0
        self.finished = 0
        self._thread = threading.Thread(
            target=_serve, args=(self, self._calls), name=f"sqlite-{name}", daemon=True
        )
        self._thread.start()
        self._conn: sqlite3.Connection | None = None
        self.slow: set[str] = set()  # statements that went over the inline budget

    async def open(self) -> None:
        self._conn = await self._run(_connect, self.path)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._conn
        if conn is None:
            raise DatabaseUnavailable(f"SQLite database {self.path} is not open")
        if self._handed == self.finished:
            try:
                return fn(conn, *args, inline=self)
            except _Moved as moved:
                return await self._run(moved.fn, conn, *moved.args)
        return await self._run(fn, conn, *args)

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Hand ``fn(conn, *args)`` to the thread without waiting for it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._handed += 1
        self._calls.put(_Call(loop, future, fn, (self._conn, *args)))
        return future

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._handed += 1
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


def _serve(owner: _Connection, calls: queue.SimpleQueue[_Call | None]) -> None:
    """The connection's thread: runs each call and hands its outcome to the caller's loop."""
    while (call := calls.get()) is not None:
        if call.future.cancelled():  # the caller has gone: the call never starts
            owner.finished += 1
            continue
        try:
            result = call.fn(*call.args)
        except BaseException as exc:  # handed to the caller, raised there
            outcome: tuple[Any, BaseException | None] = (None, exc)
        else:
            outcome = (result, None)
        owner.finished += 1  # the connection is free from here on
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            call.loop.call_soon_threadsafe(_settle, call.future, *outcome)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled while the call ran
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return exc.sqlite_errorname in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(exc)


def _waiting(run: Callable[[], T]) -> T:
    """On the connection's thread: ``run()``, again while the database is busy, for up to
    BUSY_TIMEOUT_MS (what busy_timeout would do; the connections have it at 0)."""
    give_up = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.0005
    while True:
        try:
            return run()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > give_up:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


def _budgeted(
    conn: sqlite3.Connection, owner: _Connection, sql: str, args: Sequence[Any]
) -> list[Row] | None:
    """A SELECT run inline within INLINE_BUDGET_S; None when it was stopped (it goes to
    the thread from now on), or when it was known to be slow."""
    if sql in owner.slow:
        return None
    deadline = time.perf_counter() + INLINE_BUDGET_S
    conn.set_progress_handler(lambda: time.perf_counter() > deadline, 1000)
    try:
        return _rows(conn, sql, args)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorname == "SQLITE_INTERRUPT":
            owner.slow.add(sql)
            return None
        if _is_busy(exc):
            return None
        raise
    finally:
        conn.set_progress_handler(None, 0)


_READ_ONLY = re.compile(r"\s*(SELECT|WITH)\b", re.IGNORECASE)
_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def _is_select(sql: str) -> bool:
    """A query that only reads (which SQLite may interrupt without undoing anything)."""
    return _READ_ONLY.match(sql) is not None and _WRITES.search(sql) is None


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 0")  # waiting is _waiting's, on the thread
    _waiting(lambda: conn.execute("PRAGMA journal_mode = WAL"))
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # SqliteDatabase checkpoints on a thread
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    args: Any
    many: bool = False
    rows: int | None = None  # from Tx.expect: the rows it must return


def _fetch(
    conn: sqlite3.Connection, sql: str, args: Sequence[Any], inline: _Connection | None = None
) -> list[Row]:
    # One step: a cursor left open between calls would let another coroutine's query run
    # inside its read transaction, on an old snapshot.
    if inline is not None:
        rows = _budgeted(conn, inline, sql, args) if _is_select(sql) else None
        if rows is None:
            raise _Moved(_fetch, sql, args)
        return rows
    return _waiting(lambda: _rows(conn, sql, args))


def _rows(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Row]:
    return [dict(row) for row in conn.execute(sql, args).fetchall()]


def _send(
    conn: sqlite3.Connection,
    begin: bool,
    statements: list[_Statement],
    read: _Statement | None,
    commit: bool,
    inline: _Connection | None = None,
) -> list[Row]:
    """One call on the writer: maybe BEGIN, the queued statements, maybe a read, maybe
    COMMIT; any failure rolls the transaction back before it is raised. Inline, a BEGIN
    that finds the lock taken moves the whole call to the thread, and a read over its
    budget moves the rest of it (the read and the commit)."""
    if begin:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if inline is not None and _is_busy(exc):
                raise _Moved(_send, begin, statements, read, commit) from None
            if not _is_busy(exc):
                raise
            _waiting(lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
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
        rows: list[Row] = []
        if read is not None:
            if inline is not None and _is_select(read.sql):
                budgeted = _budgeted(conn, inline, read.sql, read.args)
                if budgeted is None:
                    raise _Moved(_send, False, [], read, commit)
                rows = budgeted
            else:  # the write lock is held: nothing to wait for
                rows = _rows(conn, read.sql, read.args)
        if commit and conn.in_transaction:
            conn.execute("COMMIT")
        return rows
    except _Moved:
        raise
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _rollback(conn: sqlite3.Connection, inline: _Connection | None = None) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the WAL into the database (PASSIVE: never waits for readers or writers)."""
    with contextlib.suppress(sqlite3.OperationalError):
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


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


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # nobody waits for a checkpoint: its failure is not news


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._writer: _Connection | None = None
        self._reader: _Connection | None = None
        self._write_lock = asyncio.Lock()
        self._commits = 0

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
                self._commits += 1
                if self._commits % CHECKPOINT_EVERY == 0:
                    conn.submit(_checkpoint).add_done_callback(_retrieve)
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
