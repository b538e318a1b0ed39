"""The peer: MLflow's model registry server on PostgreSQL, driven over its REST API."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from _http import Client
from _load import Call
from _procs import HOST, Server, free_port, running

HERE = Path(__file__).resolve().parent
PEER_SCRIPT = HERE / "_mlflow_peer.py"
API = "/api/2.0/mlflow"


def sqlalchemy_url(postgres_url: str) -> str:
    # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; we install psycopg2.
    return postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)


@asynccontextmanager
async def serve(
    venv: Path, postgres_url: str, work_dir: Path, log_path: Path
) -> AsyncIterator[Server]:
    """``mlflow server`` with one uvicorn worker (several leave Nagle's algorithm on,
    uvicorn issue 3149) and without its background job runner (not part of the
    registry; its consumer processes would compete for the two cores)."""
    port = free_port()
    argv = [
        str(venv / "bin" / "mlflow"),
        "server",
        "--workers",
        "1",
        "--backend-store-uri",
        sqlalchemy_url(postgres_url),
        "--default-artifact-root",
        str(work_dir / "mlartifacts"),
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    async with running(
        "mlflow",
        argv,
        env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        port=port,
        health_path="/health",
        log_path=log_path,
        startup_timeout=180.0,
    ) as server:
        yield server


def peer_version(venv: Path) -> str:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def seed(venv: Path, postgres_url: str, start: int, stop: int, versions_per_model: int) -> float:
    """Seeds ``seed-<start>`` .. ``seed-<stop - 1>``; returns the seconds it took."""
    done = subprocess.run(
        [
            str(venv / "bin" / "python"),
            str(PEER_SCRIPT),
            "seed",
            "--db-uri",
            sqlalchemy_url(postgres_url),
            "--start",
            str(start),
            "--stop",
            str(stop),
            "--versions-per-model",
            str(versions_per_model),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"seeding MLflow failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["seconds"])


async def _post(http: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(API + path, json=body)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


async def create_model(http: Client, name: str) -> str:
    await _post(http, "/registered-models/create", {"name": name})
    return name


def create_version_on(targets: Sequence[str], *, one_model: bool) -> Call:
    async def call(http: Client, worker: int, index: int) -> bool:
        name = targets[0] if one_model else targets[worker % len(targets)]
        body = {"name": name, "source": f"s3://bench/{name}/{index}"}
        data = await _post(http, "/model-versions/create", body)
        return "model_version" in data

    return call


async def search_models(http: Client, _: int, __: int) -> bool:
    response = await http.get(API + "/registered-models/search", params={"max_results": 100})
    response.raise_for_status()
    return len(response.json().get("registered_models", [])) == 100


def get_model(names: Sequence[str]) -> Call:
    async def call(http: Client, _: int, index: int) -> bool:
        name = names[index % len(names)]
        response = await http.get(API + "/registered-models/get", params={"name": name})
        response.raise_for_status()
        return bool(response.json()["registered_model"]["name"] == name)

    return call
