"""Start-up against a database that is not there: a clear error, password masked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.adapters.sql.port import DatabaseUnavailable, mask_url
from app.bootstrap import build
from app.settings import Settings

STOPPED = "postgresql://modelrepo:s3cret-pw@127.0.0.1:1/registry"


def test_mask_url() -> None:
    assert mask_url(STOPPED) == "postgresql://modelrepo:***@127.0.0.1:1/registry"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("sqlite:///data/x.db") == "sqlite:///data/x.db"
    assert mask_url("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"


async def test_build_names_the_url_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        await build(Settings(data_dir=tmp_path, database_url=STOPPED))
    message = str(caught.value)
    assert "postgresql://modelrepo:***@127.0.0.1:1/registry" in message
    assert "s3cret" not in message


def test_serve_exits_with_a_clear_message(tmp_path: Path) -> None:
    env = {**os.environ, "MODELREPO_DATABASE_URL": STOPPED, "MODELREPO_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot connect to PostgreSQL at postgresql://modelrepo:***@127.0.0.1:1/registry" in (
        result.stderr
    )
    assert "s3cret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_an_unsupported_database_url_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "MODELREPO_DATABASE_URL": "mysql://x", "MODELREPO_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "unsupported MODELREPO_DATABASE_URL" in result.stderr
