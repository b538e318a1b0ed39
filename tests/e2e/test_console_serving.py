"""The web console at /: its files, index.html for client-side routes, a page saying how to
build it when the build is missing, and never in the way of the API's own routes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.main import create_app
from app.settings import Settings


def _client(tmp_path: Path, console: Path) -> httpx.AsyncClient:
    app = create_app(Settings(data_dir=tmp_path / "data", console_dir=console))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def built(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>console</title><div id=app></div>")
    (dist / "assets" / "app-1234.js").write_text("console.log('hi')")
    return dist


async def test_the_console_and_its_client_routes(tmp_path: Path, built: Path) -> None:
    async with _client(tmp_path, built) as client:
        index = await client.get("/")
        assert index.status_code == 200 and "<title>console</title>" in index.text
        assert index.headers["cache-control"] == "no-cache"
        # a client-side route gets the app
        route = await client.get("/models/0b6c1a2e-0000-4000-8000-000000000000?tab=history")
        assert route.status_code == 200 and route.text == index.text
        asset = await client.get("/assets/app-1234.js")
        assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
        assert (await client.get("/assets/missing.js")).status_code == 404
        (tmp_path / "secret.txt").write_text("not for the web")
        for escape in ("/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
            outside = await client.get(escape)
            assert outside.status_code == 404 and "not for the web" not in outside.text


async def test_api_prefixes_are_never_the_console(tmp_path: Path, built: Path) -> None:
    async with _client(tmp_path, built) as client:
        for path in ("/v1/nothing", "/v2/nothing/here", "/metrics-nope", "/graphql/extra"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "console" not in response.text
        assert (await client.post("/models")).status_code == 404


async def test_a_missing_build_says_how_to_build_it(tmp_path: Path) -> None:
    async with _client(tmp_path, tmp_path / "nothing-here") as client:
        page = await client.get("/models")
    assert page.status_code == 503
    assert "make console" in page.text and "npm ci" in page.text
    assert page.headers["content-type"].startswith("text/html")
