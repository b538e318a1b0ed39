"""The key that encrypts service access keys at rest, generated in the data directory when
MODELREPO_SECRET_KEY is not set: servers starting together share one whole key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app.services.keys import load_fernet


def _same_key(a: Fernet, b: Fernet) -> bool:
    return b.decrypt(a.encrypt(b"x")) == b"x"


def test_a_key_file_is_created_once_and_reused(tmp_path: Path) -> None:
    first = load_fernet("", tmp_path / "data")
    again = load_fernet("", tmp_path / "data")
    assert _same_key(first, again)
    assert oct((tmp_path / "data" / "secret.key").stat().st_mode & 0o777) == "0o600"
    assert os.listdir(tmp_path / "data") == ["secret.key"]  # no temporary file left


def test_a_server_starting_while_another_writes_the_key_reads_a_whole_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second server arrives while the first is generating: it must not read a file
    # that exists but is still empty, and both must end up with the same key.
    generate = Fernet.generate_key
    seen: list[Fernet] = []
    arrived = False

    def generate_while_another_starts() -> bytes:
        nonlocal arrived
        if not arrived:
            arrived = True
            seen.append(load_fernet("", tmp_path))
        return generate()

    monkeypatch.setattr(Fernet, "generate_key", generate_while_another_starts)
    first = load_fernet("", tmp_path)
    assert _same_key(first, seen[0])
    assert os.listdir(tmp_path) == ["secret.key"]


def test_a_configured_secret_needs_no_file(tmp_path: Path) -> None:
    assert _same_key(load_fernet("s3cret", tmp_path), load_fernet("s3cret", tmp_path))
    assert not (tmp_path / "secret.key").exists()
