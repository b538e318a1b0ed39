"""The ASGI app through HTTP (httpx), on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.adapters.event_store.port import EventMeta
from app.bootstrap import Container, build
from app.main import create_app
from app.settings import Settings


@dataclass
class Api:
    client: httpx.AsyncClient
    container: Container
    admin: str
    editor: str
    viewer: str

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = ""
    ) -> httpx.Response:
        headers = {}
        chosen = self.admin if token == "" else token
        if chosen is not None:
            headers["Authorization"] = f"Bearer {chosen}"
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = ""
    ) -> dict[str, Any]:
        """``data`` of a successful response; fails the test on GraphQL errors."""
        response = await self.post(query, variables, token=token)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        bootstrap_admin_token=False,
        batch_worker=False,  # tests drive the worker themselves
        optimization_worker=False,
    )


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with open_api(settings) as opened:
        yield opened


@asynccontextmanager
async def open_api(settings: Settings) -> AsyncIterator[Api]:
    """The app on ``settings`` with admin, editor and viewer tokens, served over httpx."""
    container = await build(settings)
    meta = EventMeta(actor="test-setup")
    tokens = {}
    for role in ("admin", "editor", "viewer"):
        tokens[role], _ = await container.tokens.create(f"{role}-token", role, meta=meta)
    app = create_app(settings, container=container)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield Api(client, container, tokens["admin"], tokens["editor"], tokens["viewer"])
    finally:
        await container.close()
