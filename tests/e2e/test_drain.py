"""SIGTERM: readiness turns false first, requests are still served, then the server exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.servers import cli, free_port
from tests.e2e.serving_helpers import PUBLISH, V1


def _gql(url: str, token: str, query: str, variables: dict[str, object]) -> dict[str, object]:
    response = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    body: dict[str, object] = response.json()["data"]
    return body


def test_sigterm_turns_readiness_off_then_drains(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MODELREPO_DATA_DIR": str(tmp_path / "data"),
        "MODELREPO_BOOTSTRAP_ADMIN_TOKEN": "false",
        "MODELREPO_DRAIN_GRACE_SECONDS": "1.5",
    }
    token = cli(env, "token", "create", "--role", "admin").stdout.strip()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        model = tmp_path / "model.onnx"
        model.write_bytes(V1)
        imported = cli(
            env | {"MODELREPO_URL": url, "MODELREPO_TOKEN": token},
            "import",
            str(model),
            "--model",
            "lin",
            "--format",
            "ONNX",
        )
        version_id = imported.stdout.rsplit("id ", 1)[1].rstrip(")\n")
        published = _gql(
            url, token, PUBLISH, {"name": "lin", "versions": [{"versionId": version_id}]}
        )
        key = published["publishService"]["accessKey"]  # type: ignore[index]
        with httpx.Client(base_url=url, headers={"Authorization": key}) as client:
            for _ in range(200):
                if (
                    client.post(
                        "/v1/models/lin:predict", json={"instances": [[1, 1, 1, 1]]}
                    ).status_code
                    == 200
                ):
                    break
                time.sleep(0.05)
            server.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            assert client.get("/v2/health/ready").status_code == 503
            during = client.post("/v1/models/lin:predict", json={"instances": [[1, 1, 1, 1]]})
            assert during.status_code == 200 and during.json() == {"predictions": [[10.5]]}
        # uvicorn re-raises the captured SIGTERM after a clean shutdown.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
        log.flush()
        assert "Application shutdown complete" in (tmp_path / "server.log").read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
