"""Shared fixtures: a throwaway PostgreSQL database per run, clean schemas per test."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from app.adapters.sql.postgres import PostgresDatabase
from app.adapters.sql.sqlite import SqliteDatabase
from tests.integration.s3_server import S3Server

T = TypeVar("T")

# Overridable so a CI runner with another address can still run the PostgreSQL tests.
ADMIN_URL = os.environ.get(
    "MODELREPO_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _create_database(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        # A test that failed midway may leave a pool open; DROP DATABASE refuses while
        # anyone is connected.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even while pytest-asyncio's event
    loop is running (fixtures can be set up from inside it): on a thread of its own."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh database for this run. Unreachable PostgreSQL fails the run in CI and
    skips the PostgreSQL tests elsewhere."""
    name = f"modelrepo_test_{secrets.token_hex(6)}"
    try:
        # A session fixture outlives each test's event loop, so it runs its own.
        run_sync(_create_database(name))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        message = f"PostgreSQL is not reachable at {ADMIN_URL}: {exc!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: the PostgreSQL tests must run)", pytrace=False)
        pytest.skip(message)
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        run_sync(_drop_database(name))


@pytest.fixture
async def pg_database(pg_url: str) -> AsyncIterator[PostgresDatabase]:
    """An open database whose public schema has just been emptied."""
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    db = PostgresDatabase(pg_url)
    await db.open()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'db.sqlite'}")
    await db.open()
    try:
        yield db
    finally:
        await db.close()


async def _empty_schema(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for each backend: a file under tmp_path, or the run's PostgreSQL
    database with an emptied schema. Sync on purpose: pg_url runs its own event loop."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        run_sync(_empty_schema(url))
        return url
    return f"sqlite:///{tmp_path / 'modelrepo.db'}"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    try:
        server = S3Server.start(log_path)
    except (OSError, RuntimeError) as exc:
        pytest.fail(f"cannot start the moto S3 server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def s3_bucket(s3_server: S3Server) -> AsyncIterator[str]:
    """A new empty bucket; the server forgets everything after the test."""
    name = f"modelrepo-test-{secrets.token_hex(4)}"
    async with s3_server.client() as client:
        await client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        await s3_server.reset()
