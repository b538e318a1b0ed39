"""The first start of an empty store prints an admin token once; the CLI makes more."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from app.settings import Settings

TOKEN = re.compile(r"mr_[A-Za-z0-9_-]{40,}")


async def _start_and_capture(settings: Settings, capsys: pytest.CaptureFixture[str]) -> str:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass
    return capsys.readouterr().err


async def test_first_start_prints_a_working_admin_token_once(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    first = await _start_and_capture(settings, capsys)
    found = TOKEN.findall(first)
    assert len(found) == 1, first
    assert await _start_and_capture(settings, capsys) == ""

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/graphql",
                json={"query": "{ me { name role } }"},
                headers={"Authorization": f"Bearer {found[0]}"},
            )
    assert response.json() == {"data": {"me": {"name": "bootstrap-admin", "role": "ADMIN"}}}


def test_cli_token_create_list_and_revoke(tmp_path: Path) -> None:
    env = {**os.environ, "MODELREPO_DATA_DIR": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    created = cli("token", "create", "--role", "admin", "--name", "ops")
    assert created.returncode == 0, created.stderr
    assert TOKEN.fullmatch(created.stdout.strip())
    listed = cli("token", "list")
    token_id, role, state, name = listed.stdout.split()
    assert (role, state, name) == ("admin", "active", "ops")
    assert cli("token", "revoke", token_id).returncode == 0
    assert "revoked" in cli("token", "list").stdout
    again = cli("token", "revoke", token_id)
    assert again.returncode == 1 and "token ops is revoked and cannot be changed" in again.stderr
    bad_role = cli("token", "create", "--role", "root")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
