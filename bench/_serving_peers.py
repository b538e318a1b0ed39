"""The two peers of the serving benchmark: ``mlflow models serve`` (sklearn flavour, in
the peer's own virtualenv) and the bare Starlette + onnxruntime endpoint (the floor)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from _procs import HOST, Server, ensure_venv, free_port, running
from _serving_model import ModelFiles

HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".venv-mlflow"
BARE = HERE / "_serving_bare.py"
MLFLOW_SAVE = HERE / "_serving_mlflow_peer.py"


@asynccontextmanager
async def bare(
    model: Path, log_path: Path, *, workers: int = 1, loop: str = "auto"
) -> AsyncIterator[Server]:
    """Under uvicorn: ``loop`` "auto" is uvloop when installed (it is, with uvicorn[standard])."""
    port = free_port()
    argv = [sys.executable, str(BARE), "--model", str(model), "--port", str(port)]
    async with running(
        f"bare endpoint ({workers} worker(s), loop {loop})",
        [*argv, "--workers", str(workers), "--loop", loop],
        env={},
        port=port,
        health_path="/health",
        log_path=log_path,
    ) as server:
        yield server


def prepare_mlflow(files: ModelFiles, out: Path) -> dict[str, Any]:
    """The peer's virtualenv (created when missing, scikit-learn added when missing) and
    the model saved in MLflow's format under ``out``; returns versions and checks."""
    python = ensure_venv(MLFLOW_VENV)
    has_sklearn = subprocess.run(
        [str(python), "-c", "import sklearn"], capture_output=True, check=False, timeout=120
    )
    if has_sklearn.returncode != 0:
        print(f"installing scikit-learn into {MLFLOW_VENV} (one-off) ...", flush=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "scikit-learn"], check=True)
    argv = [str(python), str(MLFLOW_SAVE), "--pickle", str(files.pickle)]
    argv += ["--data", str(files.data), "--out", str(out)]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"saving the MLflow model failed:\n{done.stderr[-3000:]}")
    info: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return info


@asynccontextmanager
async def mlflow(model_dir: Path, log_path: Path) -> AsyncIterator[Server]:
    """``mlflow models serve`` with one uvicorn worker, the local environment, 127.0.0.1.
    It runs ``uvicorn`` by name, so the peer's bin directory goes first on PATH."""
    port = free_port()
    argv = [str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir)]
    argv += ["--env-manager", "local", "--workers", "1", "--host", HOST, "--port", str(port)]
    path = f"{MLFLOW_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    async with running(
        "mlflow models serve",
        argv,
        env={"PATH": path},
        port=port,
        health_path="/ping",
        log_path=log_path,
        startup_timeout=180.0,
    ) as server:
        yield server
