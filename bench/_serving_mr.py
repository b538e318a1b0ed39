"""modelrepo as a model server: token, import, publish, restart with other batching settings.

Everything goes through the shipped commands and the public API, as a user would: the
CLI creates the token and imports the ONNX file, GraphQL publishes the service, and the
service is called on ``/v1/models/{name}:predict`` with its access key.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _procs import HOST, Server, free_port, running

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin" / "modelrepo"

PUBLISH = """
mutation($name: String!, $versions: [DeployVersionInput!]!) {
  publishService(name: $name, versions: $versions) {
    __typename
    ... on ServiceWithKey { accessKey service { id } }
    ... on Error { message }
  }
}"""
STATUS = "query($id: ID!) { service(id: $id) { status statusReason } }"
DELETE = "mutation($id: ID!) { deleteService(serviceId: $id) { __typename } }"


@dataclass(frozen=True)
class Published:
    name: str
    service_id: str
    key: str


def env_for(
    data_dir: Path, *, max_batch_size: int, max_wait_ms: float = 0.0, monitoring: bool = True
) -> dict[str, str]:
    """The server's settings (SQLite + files under ``data_dir``); 64 rows and no wait are
    the shipped batching defaults, a batch size of 1 turns batching off."""
    return {
        "MODELREPO_DATA_DIR": str(data_dir),
        "MODELREPO_BOOTSTRAP_ADMIN_TOKEN": "false",
        "MODELREPO_MAX_BATCH_SIZE": str(max_batch_size),
        "MODELREPO_MAX_BATCH_WAIT_MS": f"{max_wait_ms:g}",
        "MODELREPO_MONITORING": "true" if monitoring else "false",
    }


def _cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(BIN), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"modelrepo {args[0]} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return done.stdout


def create_token(env: dict[str, str]) -> str:
    secret = _cli(["token", "create", "--role", "admin", "--name", "bench"], env)
    secret = secret.strip().splitlines()[-1]
    if not secret.startswith("mr_"):
        raise RuntimeError(f"unexpected token output: {secret!r}")
    return secret


def import_onnx(base_url: str, token: str, path: Path, model: str) -> str:
    """``modelrepo import`` of one ONNX file; returns the new version's id."""
    return import_files(base_url, token, path, model, "ONNX")


def import_files(base_url: str, token: str, path: Path, model: str, model_format: str) -> str:
    """``modelrepo import`` of a file or a folder (zipped by the CLI); the version's id."""
    out = _cli(
        ["import", str(path), "--model", model, "--format", model_format],
        {"MODELREPO_URL": base_url, "MODELREPO_TOKEN": token},
    )
    match = re.search(r": READY \(.*\bid (\S+?)\)", out)
    if match is None:
        raise RuntimeError(f"unexpected import output: {out!r}")
    return match[1]


@asynccontextmanager
async def serve(env: dict[str, str], log_path: Path) -> AsyncIterator[Server]:
    port = free_port()
    async with running(
        "modelrepo",
        [str(BIN), "serve", "--host", HOST, "--port", str(port)],
        env=env,
        port=port,
        health_path="/healthz",
        log_path=log_path,
    ) as server:
        yield server


async def _graphql(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


async def publish(
    base_url: str, token: str, name: str, version_id: str, *, poll: float = 0.1
) -> Published:
    """Publish ``name`` on one version and wait until it is RUNNING (status read every
    ``poll`` seconds, for at most 60 s)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        variables = {"name": name, "versions": [{"versionId": version_id}]}
        result = (await _graphql(http, PUBLISH, variables))["publishService"]
        if result["__typename"] != "ServiceWithKey":
            raise RuntimeError(f"publishService: {result}")
        service_id = result["service"]["id"]
        for _ in range(round(60 / poll)):
            service = (await _graphql(http, STATUS, {"id": service_id}))["service"]
            if service["status"] == "RUNNING":
                return Published(name, service_id, result["accessKey"])
            if service["status"] == "FAILED":
                raise RuntimeError(f"service {name} failed: {service['statusReason']}")
            await asyncio.sleep(poll)
    raise RuntimeError(f"service {name} not RUNNING after 60 s: {service}")


async def delete_service(base_url: str, token: str, service_id: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        result = (await _graphql(http, DELETE, {"id": service_id}))["deleteService"]
    if result["__typename"] != "DeletedService":
        raise RuntimeError(f"deleteService: {result}")


async def wait_serving(base_url: str, service: Published, body: bytes) -> Any:
    """After a restart the data plane loads the service again: wait for a 200 answer."""
    headers = {"Authorization": service.key, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        last = ""
        for _ in range(600):
            response = await http.post(f"/v1/models/{service.name}:predict", content=body)
            if response.status_code == 200:
                return response.json()
            last = f"{response.status_code} {response.text[:300]}"
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{service.name} does not answer predictions: {last}")
