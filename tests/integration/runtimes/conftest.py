"""Every test here must end every process it started (workers, JVMs)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def child_processes() -> list[str]:
    """This process's children (including unreaped zombies), as "pid command"."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        command, _, rest = text.rpartition(")")
        if int(rest.split()[1]) == os.getpid():
            found.append(f"{stat.parent.name} {command.partition('(')[2]}")
    return sorted(found)


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (gone, or a zombie waiting for a parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not process_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    before = child_processes()
    yield
    deadline = time.monotonic() + 5
    while (
        left := [p for p in child_processes() if p not in before]
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left running: {left}"
