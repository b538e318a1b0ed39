"""SQLite through aiosqlite: one writer connection (``BEGIN IMMEDIATE``), one reader, WAL."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from app.adapters.sql.port import Database, DatabaseUnavailable, Row, Tx

_PLACEHOLDER = re.compile(r"\$(\d+)")
BUSY_TIMEOUT_MS = 30_000


def _sql(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


def sqlite_path(url: str) -> str:
    """``sqlite:///relative/file.db`` or ``sqlite:////absolute/file.db`` to a path."""
    if not url.startswith("sqlite://"):
        raise ValueError(f"not a sqlite URL: {url}")
    rest = url.removeprefix("sqlite://")
    return rest[1:] if rest.startswith("/") else rest


class SqliteTx(Tx):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await self._conn.execute(_sql(sql), args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(_sql(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        # One step on the connection's thread: a cursor left open between steps would let
        # another coroutine's query run inside its read transaction, on an old snapshot.
        rows = await self._conn.execute_fetchall(_sql(sql), args)
        return [dict(row) for row in rows]


async def _begin(conn: aiosqlite.Connection) -> None:
    """BEGIN IMMEDIATE, safe against cancellation: the statement runs on the connection's
    thread even when its awaiter is cancelled, and a transaction left open there would
    break every later one ("cannot start a transaction within a transaction")."""
    begin = asyncio.ensure_future(conn.execute("BEGIN IMMEDIATE"))
    try:
        await asyncio.shield(begin)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await begin
            await conn.execute("ROLLBACK")
        raise


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def open(self) -> None:
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._writer = await self._connect()
            self._reader = await self._connect()
        except (OSError, sqlite3.Error) as exc:
            await self.close()
            raise DatabaseUnavailable(f"cannot open SQLite database {self.url}: {exc}") from exc

    async def close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        if self._writer is None:
            raise DatabaseUnavailable(f"database {self.url} is not open")
        async with self._write_lock:
            conn = self._writer
            await _begin(conn)
            try:
                yield SqliteTx(conn)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Tx]:
        if self._reader is None:
            raise DatabaseUnavailable(f"database {self.url} is not open")
        yield SqliteTx(self._reader)
