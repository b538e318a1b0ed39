"""Two real server processes sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import run_sync
from tests.e2e.queries import IMPORT_MODEL, IMPORT_VERSION, MODEL, MODELS, model_input, version
from tests.e2e.servers import cli, running_servers

TABLES = ("rm_models", "rm_model_tags", "rm_versions", "rm_audit", "rm_tokens")


@pytest.fixture
def shared_pg(pg_url: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], list[str]]]:
    """Environment for the CLI and the base URLs of two running servers."""

    async def empty() -> None:
        conn = await asyncpg.connect(pg_url)
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await conn.close()

    run_sync(empty())
    env = {
        **os.environ,
        "MODELREPO_DATABASE_URL": pg_url,
        "MODELREPO_DATA_DIR": str(tmp_path),
        "MODELREPO_BOOTSTRAP_ADMIN_TOKEN": "false",
    }
    with running_servers(env, 2, tmp_path) as urls:
        yield env, urls


async def _dump(url: str) -> dict[str, list[Any]]:
    conn = await asyncpg.connect(url)
    try:
        return {
            table: sorted(tuple(r.values()) for r in await conn.fetch(f"SELECT * FROM {table}"))
            for table in TABLES
        }
    finally:
        await conn.close()


async def test_two_servers_share_one_database_correctly(
    shared_pg: tuple[dict[str, str], list[str]],
) -> None:
    env, (url_a, url_b) = shared_pg
    token = cli(env, "token", "create", "--role", "admin", "--name", "two-proc").stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=url_a, headers=headers, timeout=60) as a,
        httpx.AsyncClient(base_url=url_b, headers=headers, timeout=60) as b,
    ):

        async def gql(client: httpx.AsyncClient, query: str, **variables: Any) -> Any:
            response = await client.post("/graphql", json={"query": query, "variables": variables})
            body = response.json()
            assert "errors" not in body, body
            return body["data"]

        created = await gql(a, IMPORT_MODEL, input=model_input("shared"))
        model_id = created["importModel"]["model"]["id"]
        # read-your-writes across processes: B sees what A just wrote
        assert (await gql(b, MODEL, name="shared"))["model"]["id"] == model_id

        results = await asyncio.gather(
            *(
                gql(a if i % 2 else b, IMPORT_VERSION, modelId=model_id, version=version())
                for i in range(40)
            )
        )
        numbers = sorted(r["importModelVersion"]["version"]["number"] for r in results)
        assert numbers == list(range(2, 42))

        races = await asyncio.gather(
            *(gql(a if i % 2 else b, IMPORT_MODEL, input=model_input("Race ")) for i in range(10))
        )
        kinds = sorted(r["importModel"]["__typename"] for r in races)
        assert kinds == ["ImportSuccess"] + ["NameTaken"] * 9

        listed_a = await gql(a, MODELS)
        listed_b = await gql(b, MODELS)
        assert listed_a == listed_b
        assert [e["node"]["versionCount"] for e in listed_a["models"]["edges"]] == [1, 41]

    pg_url = env["MODELREPO_DATABASE_URL"]
    before = await _dump(pg_url)
    conn = await asyncpg.connect(pg_url)
    try:
        events = await conn.fetchval("SELECT COUNT(*) FROM events")
    finally:
        await conn.close()
    assert len(before["rm_audit"]) == events  # every event applied exactly once
    cli(env, "projections", "rebuild")
    assert await _dump(pg_url) == before
