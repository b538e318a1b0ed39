"""Processes and databases the benchmark owns: servers, the peer's virtualenv, fresh
PostgreSQL databases. Everything started here is bound to 127.0.0.1 and stopped by its
own process group id."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, closing, suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _stop(server: Server, grace: float = 15.0) -> None:
    # The server runs in its own session, so its process group id is its pid and holds
    # every child it spawned (uvicorn, job runners) and nothing else.
    pgid = server.proc.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        try:
            server.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; give children of the group a moment, then make sure.
        time.sleep(0.2)
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        return


@asynccontextmanager
async def running(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    port: int,
    health_path: str,
    log_path: Path,
    startup_timeout: float = 120.0,
) -> AsyncIterator[Server]:
    """Start a server, wait until ``health_path`` answers 200, stop it on exit."""
    proc = _spawn(argv, env, log_path)
    server = Server(name, proc, f"http://{HOST}:{port}", log_path)
    try:
        await _wait_healthy(server, health_path, startup_timeout)
        yield server
    finally:
        _stop(server)


def _spawn(argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


async def _wait_healthy(server: Server, path: str, within: float) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(
                    f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}"
                )
            with suppress(httpx.HTTPError):
                if (await client.get(path)).status_code == 200:
                    return
            await asyncio.sleep(0.25)
    raise RuntimeError(f"{server.name} not healthy after {within:.0f} s:\n{server.log_tail()}")


# --- CPU time (Linux /proc) ------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def stat_fields(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command (state is [0], ppid [1], pgrp [2],
    utime [11], stime [12], cutime [13], cstime [14]); OSError when it is gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _own_cpu(pid: int) -> float:
    """User + system seconds of a process and of its children that have exited (and been
    waited for): a sum over live processes then keeps what exits between two readings,
    which moves from the child's figures into its parent's."""
    return sum(int(v) for v in stat_fields(pid)[11:15]) / TICK


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of a process and its live descendants; None without /proc."""
    try:
        total = _own_cpu(pid)
        for child in _children(pid):
            with suppress(OSError):
                total += tree_cpu_seconds(child) or 0.0
    except OSError:
        return None
    return total


def postgres_cpu_seconds() -> float | None:
    """CPU seconds of every PostgreSQL process on this machine (backends, WAL writer,
    checkpointer, ...), closed connections' backends included (the postmaster waits for
    them); None without /proc or when none can be read."""
    total, seen = 0.0, False
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            if (proc / "comm").read_text().strip() == "postgres":
                total += _own_cpu(int(proc.name))
                seen = True
    return total if seen else None


# --- the peer's virtualenv -------------------------------------------------------------

PEER_PACKAGES = ("mlflow", "psycopg2-binary")


def ensure_venv(path: Path, packages: Sequence[str] = PEER_PACKAGES) -> Path:
    """A separate virtualenv with the peer installed; created when missing. Returns its
    python. The project's own virtualenv is never touched."""
    python = path / "bin" / "python"
    probe = "import mlflow, psycopg2"
    if python.exists() and _ok([str(python), "-c", probe]):
        return python
    base = "python3" if _ok(["python3", "-c", "import venv"]) else sys.executable
    print(f"creating {path} and installing {' '.join(packages)} (one-off) ...", flush=True)
    subprocess.run([base, "-m", "venv", str(path)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *packages], check=True)
    if not _ok([str(python), "-c", probe]):
        raise RuntimeError(f"{path}: mlflow or psycopg2 still not importable")
    return python


def _ok(argv: Sequence[str]) -> bool:
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


# --- fresh PostgreSQL databases ---------------------------------------------------------


def with_database(url: str, name: str) -> str:
    """``url`` (a server URL, any database) pointing at database ``name``."""
    base, _, _ = url.rstrip("/").rpartition("/")
    if "://" not in base:  # no database part in the URL
        base = url.rstrip("/")
    return f"{base}/{name}"


@asynccontextmanager
async def fresh_database(admin_url: str, prefix: str) -> AsyncIterator[str]:
    """Create ``<prefix>_<hex>``, yield its URL, drop it (even with sessions left)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield with_database(admin_url, name)
    finally:
        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def analyze(database_url: str) -> None:
    """Refresh the planner's statistics, as autovacuum (or a DBA) would on a store that
    has been running a while; freshly bulk-loaded tables have none."""
    if database_url.startswith("sqlite:"):
        rest = database_url.removeprefix("sqlite://")  # sqlite:////abs or sqlite:///rel
        await asyncio.to_thread(_sqlite_analyze, rest[1:] if rest.startswith("/") else rest)
        return
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        # VACUUM too, so autovacuum does not start on the fresh rows mid-measurement.
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def _sqlite_analyze(path: str) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("ANALYZE")
