"""The processes of the file benchmark: moto's S3 server (the tests' own S3Server, reused
by import) and ``modelrepo serve``, plus what /proc says about a process (peak RSS, CPU).

Everything binds to 127.0.0.1. ``modelrepo serve`` runs in its own session and is stopped
by its process group id (its pid), never by name.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
from _procs import TICK, stat_fields

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(ROOT))

from tests.integration.s3_server import (  # noqa: E402
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    S3Server,
)

__all__ = ["ACCESS_KEY_ID", "REGION", "SECRET_ACCESS_KEY", "S3Server"]

HOST = "127.0.0.1"
MODELREPO = ROOT / ".venv" / "bin" / "modelrepo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ProcWatch:
    """Peak RSS (VmHWM, reset through /proc/<pid>/clear_refs) and CPU seconds of a pid."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def _status(self, field: str) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"no {field} in /proc/{self.pid}/status")

    def rss(self) -> int:
        return self._status("VmRSS")

    def peak_rss(self) -> int:
        return self._status("VmHWM")

    def reset_peak(self) -> bool:
        """Start a new peak from the current RSS (Linux >= 4.0); False when refused."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as refs:
                refs.write("5")
        except OSError:
            return False
        return True

    def cpu_seconds(self) -> float:
        fields = stat_fields(self.pid)
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


@dataclass
class Modelrepo:
    proc: subprocess.Popen[bytes]
    base_url: str
    token: str
    log_path: Path

    @property
    def watch(self) -> ProcWatch:
        return ProcWatch(self.proc.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def server_env(data_dir: Path, s3_endpoint: str, storage_url: str) -> dict[str, str]:
    """The environment of ``modelrepo`` commands: inherited, minus any MODELREPO_* of the
    caller's shell, plus this benchmark's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREPO_")}
    env.update(
        MODELREPO_DATA_DIR=str(data_dir),
        MODELREPO_DATABASE_URL="",
        MODELREPO_BOOTSTRAP_ADMIN_TOKEN="false",
        MODELREPO_STORAGE_URL=storage_url,
        MODELREPO_S3_ENDPOINT_URL=s3_endpoint,
        MODELREPO_S3_ACCESS_KEY_ID=ACCESS_KEY_ID,
        MODELREPO_S3_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        MODELREPO_S3_REGION=REGION,
        PYTHONUNBUFFERED="1",
    )
    return env


def create_token(env: Mapping[str, str]) -> str:
    done = subprocess.run(
        [str(MODELREPO), "token", "create", "--role", "admin", "--name", "bench"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"modelrepo token create failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


@asynccontextmanager
async def modelrepo_server(
    env: Mapping[str, str], log_path: Path, startup_timeout: float = 120.0
) -> AsyncIterator[Modelrepo]:
    """A token, then ``modelrepo serve`` on a free port until /healthz answers; stopped
    (SIGTERM, then SIGKILL, to its process group) on exit."""
    token = await asyncio.to_thread(create_token, env)
    port = free_port()
    proc = _spawn([str(MODELREPO), "serve", "--host", HOST, "--port", str(port)], env, log_path)
    server = Modelrepo(proc, f"http://{HOST}:{port}", token, log_path)
    try:
        await _wait_healthy(server, startup_timeout)
        yield server
    finally:
        stop_group(proc)


def _spawn(argv: list[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, stopped by its pid
        )


def stop_group(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


async def _wait_healthy(server: Modelrepo, within: float) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(
                    f"modelrepo exited with {server.proc.returncode}:\n{server.log_tail()}"
                )
            with suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.25)
    raise RuntimeError(f"modelrepo not healthy after {within:.0f} s:\n{server.log_tail()}")


def moto_pid(s3: S3Server) -> int:
    """The moto child's pid (S3Server keeps its Popen private), for CPU accounting."""
    return int(s3._process.pid)
