"""modelrepo under test: its server, GraphQL calls, seeding through the domain and the
event store, and projection rebuilds."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _http import Client
from _load import Call, Run, drive_local
from _procs import HOST, Server, free_port, running

from app.adapters.event_store.port import EventMeta
from app.bootstrap import Container, build
from app.services.models import VersionSpec
from app.settings import Settings
from domain.model import Model, ModelList
from domain.names import NameClaim
from domain.rules import name_key
from domain.version import ModelVersion

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin" / "modelrepo"

IMPORT_MODEL = """
mutation($n: String!) {
  importModel(input: {name: $n, version: {format: ONNX}}) {
    __typename
    ... on ImportSuccess { model { id } }
    ... on Error { message }
  }
}"""
IMPORT_VERSION = """
mutation($m: ID!) {
  importModelVersion(modelId: $m, version: {format: ONNX, metrics: [{name: "acc", value: 0.9}]}) {
    __typename
    ... on ImportSuccess { version { number } }
    ... on Error { message }
  }
}"""
LIST_MODELS = """
query {
  models(first: 100) {
    edges { cursor node { id name versionCount latestVersion { name format } } }
    pageInfo { hasNextPage }
  }
}"""
MODEL_BY_NAME = """
query($n: String!) { model(name: $n) { id name versionCount latestVersion { name } } }"""


def env_for(database_url: str, data_dir: Path) -> dict[str, str]:
    return {"MODELREPO_DATABASE_URL": database_url, "MODELREPO_DATA_DIR": str(data_dir)}


def create_token(database_url: str, data_dir: Path) -> str:
    """An admin token through the CLI (which also creates the tables)."""
    done = subprocess.run(
        [str(BIN), "token", "create", "--role", "admin", "--name", "bench"],
        env={**os.environ, **env_for(database_url, data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    secret = done.stdout.strip().splitlines()[-1]
    if not secret.startswith("mr_"):
        raise RuntimeError(f"unexpected token output: {done.stdout!r} {done.stderr!r}")
    return secret


@asynccontextmanager
async def serve(database_url: str, data_dir: Path, log_path: Path) -> AsyncIterator[Server]:
    port = free_port()
    async with running(
        "modelrepo",
        [str(BIN), "serve", "--host", HOST, "--port", str(port)],
        env=env_for(database_url, data_dir),
        port=port,
        health_path="/healthz",
        log_path=log_path,
    ) as server:
        yield server


async def graphql(
    http: Client, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise ValueError(f"GraphQL errors: {body['errors']}")
    data: dict[str, Any] = body["data"]
    return data


async def import_model(http: Client, name: str) -> str:
    result = (await graphql(http, IMPORT_MODEL, {"n": name}))["importModel"]
    if result["__typename"] != "ImportSuccess":
        raise ValueError(f"importModel {name}: {result}")
    return str(result["model"]["id"])


def import_version_on(targets: Sequence[str], *, one_model: bool) -> Call:
    """Each worker writes to its own model (``targets[w % n]``), or all to the first."""

    async def call(http: Client, worker: int, _: int) -> bool:
        target = targets[0] if one_model else targets[worker % len(targets)]
        data = await graphql(http, IMPORT_VERSION, {"m": target})
        return bool(data["importModelVersion"]["__typename"] == "ImportSuccess")

    return call


async def list_models(http: Client, _: int, __: int) -> bool:
    edges = (await graphql(http, LIST_MODELS))["models"]["edges"]
    return len(edges) == 100


def model_by_name(names: Sequence[str]) -> Call:
    async def call(http: Client, _: int, index: int) -> bool:
        name = names[index % len(names)]
        model = (await graphql(http, MODEL_BY_NAME, {"n": name}))["model"]
        return model is not None and model["name"] == name

    return call


# --- seeding and rebuilding in-process ---------------------------------------------------

SEED_META = EventMeta(actor="bench-seed", request_id="bench")
MODELS_PER_APPEND = 50


def seed_name(i: int) -> str:
    return f"seed-{i:06d}"


@dataclass
class Seeded:
    models: int
    events: int
    append_s: float
    project_s: float


async def _open(database_url: str, data_dir: Path) -> Container:
    settings = Settings(database_url=database_url, data_dir=data_dir, bootstrap_admin_token=False)
    return await build(settings)


async def seed(
    database_url: str, data_dir: Path, start: int, stop: int, versions_per_model: int
) -> Seeded:
    """Models ``seed-<start>`` .. ``seed-<stop - 1>`` with their versions, written as the
    service writes them (name claim, model, version allocations, versions) but many models
    per append; then the read models catch up. The server must not be running."""
    container = await _open(database_url, data_dir)
    try:
        events = 0
        began = time.perf_counter()
        for first in range(start, stop, MODELS_PER_APPEND):
            aggregates: list[Any] = []
            for i in range(first, min(stop, first + MODELS_PER_APPEND)):
                model = Model.register(seed_name(i), ModelList.ORIGINAL, None, {})
                claim = NameClaim.claim_new(
                    ModelList.ORIGINAL.names, name_key(model.name), model.name, model.id
                )
                versions = [
                    ModelVersion.import_metadata(
                        model.id,
                        model.allocate_version_number(),
                        "ONNX",
                        metrics={"acc": 0.9},
                        source_uri=f"s3://bench/{model.name}/{n}",
                    )
                    for n in range(1, versions_per_model + 1)
                ]
                aggregates += [claim, model, *versions]
            events += len(await container.repository.save(*aggregates, meta=SEED_META))
        appended = time.perf_counter()
        await container.projector.catch_up()
        projected = time.perf_counter()
    finally:
        await container.close()
    return Seeded(stop - start, events, appended - began, projected - appended)


async def service_writes(
    database_url: str,
    data_dir: Path,
    *,
    clients: int,
    models: int,
    total: int,
    deadline_s: float,
) -> Run:
    """``ModelService.import_version`` called in-process (no HTTP, no GraphQL): the
    ceiling the API layer is measured against. The server must not be running."""
    container = await _open(database_url, data_dir)
    try:
        ids = []
        for i in range(models):
            name = f"svc-{clients}x{models}-{i}"
            model, _ = await container.models.import_model(
                name, VersionSpec("ONNX"), meta=SEED_META
            )
            ids.append(model.id)
        spec = VersionSpec("ONNX", metrics={"acc": 0.9})

        async def one(worker: int, _: int) -> bool:
            target = ids[worker % len(ids)]
            await container.models.import_version(target, spec, meta=SEED_META)
            return True

        return await drive_local(one, clients=clients, total=total, deadline_s=deadline_s)
    finally:
        await container.close()


async def count_events(database_url: str, data_dir: Path) -> int:
    container = await _open(database_url, data_dir)
    try:
        return int(await container.db.fetchval("SELECT count(*) FROM events"))
    finally:
        await container.close()


def rebuild_cli(database_url: str, data_dir: Path) -> tuple[float, str]:
    """``modelrepo projections rebuild`` wall time (with start-up) and its output line."""
    began = time.perf_counter()
    done = subprocess.run(
        [str(BIN), "projections", "rebuild"],
        env={**os.environ, **env_for(database_url, data_dir)},
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return time.perf_counter() - began, done.stdout.strip()
