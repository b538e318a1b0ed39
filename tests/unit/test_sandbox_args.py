"""The bubblewrap command line, read as data (the sandbox itself is tested in tests/security)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.sandbox import JOB_DIR, MODEL_DIR, Sandbox, machine_memory_mb


def mounts(args: list[str]) -> list[tuple[str, str]]:
    """(kind, destination) of each mount, in bwrap's order."""
    found = []
    for index, arg in enumerate(args):
        if arg in ("--ro-bind", "--bind", "--ro-bind-try"):
            found.append((arg, args[index + 2]))
        elif arg in ("--tmpfs", "--proc", "--dev"):
            found.append((arg, args[index + 1]))
    return found


def test_a_runtime_under_tmp_is_bound_on_top_of_the_private_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # CI clones the project under /tmp: a tmpfs mounted after the virtualenv's bind hid it
    # ("bwrap: execvp /tmp/…/.venv/bin/python: No such file or directory").
    venv = str(tmp_path / ".venv")
    monkeypatch.setattr(sys, "prefix", venv)
    args = Sandbox()._bwrap(tmp_path, tmp_path, False, Path(__file__))
    order = mounts(args)
    assert order.index(("--tmpfs", "/tmp")) < order.index(("--ro-bind", venv))
    assert ("--ro-bind", MODEL_DIR) in order and ("--bind", JOB_DIR) in order


def test_no_network_namespace_is_shared_unless_asked() -> None:
    sandbox = Sandbox()
    assert "--unshare-net" in sandbox._bwrap(Path("/x"), None, False, Path(__file__))
    shared = sandbox._bwrap(Path("/x"), None, True, Path(__file__))
    assert "--unshare-net" not in shared and ("--ro-bind-try", "/etc/resolv.conf") in mounts(shared)
    assert not any(dest in ("/etc", "/etc/shadow") for _, dest in mounts(shared))


def test_memory_is_capped_by_the_ceiling() -> None:
    sandbox = Sandbox(max_memory_mb=2048)
    assert sandbox.memory_mb(None) == 2048
    assert sandbox.memory_mb(512) == 512
    assert sandbox.memory_mb(524288) == 2048
    assert Sandbox().memory_ceiling_mb == machine_memory_mb() // 2
