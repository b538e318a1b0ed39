"""An editor's model_service.py attacks the server from inside its worker.

Each test publishes a custom model through the API and asks it, in a predict request, to try
one attack; the model answers what it managed. Before the sandbox every one of these worked:
the worker ran as the server's uid, on the server's file system and network.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import textwrap
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.optimize.pytorch_export import ExportFailed, export
from app.sandbox import Sandbox
from app.settings import Settings
from domain.optimization import Method
from tests.e2e.conftest import Api, open_api
from tests.e2e.serving_helpers import PUBLISH, predict, publish
from tests.e2e.test_uploads import import_upload

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None and os.environ.get("CI") != "true",
    reason="bubblewrap is not installed (make test installs it; CI never skips)",
)

TORCH = "PYTORCH"  # a custom runtime package: model_service.py builds the model
ATTACKER = textwrap.dedent(
    """
    import ctypes, os, socket, subprocess, time

    def attempt(action, arg):
        if action == "read":
            with open(arg, "rb") as file:
                return "read: " + file.read(200).decode("utf-8", "replace")
        if action == "write":
            with open(arg, "a") as file:
                file.write("# tampered\\n")
            return "written"
        if action == "connect":
            host, port = arg.rsplit(":", 1)
            socket.create_connection((host, int(port)), timeout=2).close()
            return "connected"
        if action == "fork":
            count = 0
            for _ in range(int(arg)):
                if os.fork() == 0:
                    time.sleep(5)
                    os._exit(0)
                count += 1
            return f"forked {count}"
        if action == "escape":
            # A grandchild in a session of its own, as a daemon would start.
            subprocess.Popen(["sleep", arg], start_new_session=True)
            return "started"
        if action == "whoami":
            return f"uid {os.getuid()} pids {sorted(p for p in os.listdir('/proc') if p.isdigit())}"
        raise ValueError(action)

    class Attacker:
        def predict(self, inputs):
            action, arg = (str(v) for v in inputs["action"][0])
            try:
                result = attempt(action, arg)
            except BaseException as exc:
                result = f"refused: {type(exc).__name__}: {exc}"
            return {"result": [result]}
    """
)


def attacker_package(network: bool = False) -> bytes:
    config: dict[str, Any] = {
        "inputs": [{"name": "action", "type": "string", "shape": [-1, 2]}],
        "outputs": [{"name": "result", "type": "string", "shape": [-1]}],
    }
    if network:
        config["network"] = True
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model_service.py", ATTACKER)
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("weights.pt", b"PK\x05\x06" + bytes(18))  # never read
    return buffer.getvalue()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'modelrepo.db'}"


async def deploy(api: Api, name: str, *, network: bool = False, **spec: Any) -> tuple[str, str]:
    package = attacker_package(network)
    imported = await import_upload(api, name, "package.zip", package, fmt="PYTORCH")
    assert imported["__typename"] == "ImportSuccess", imported
    return await publish(api, f"{name}-svc", [{"versionId": imported["version"]["id"], **spec}])


async def attack(api: Api, name: str, key: str, action: str, arg: str = "") -> str:
    answer = await predict(api, f"{name}-svc", key, {"instances": [[action, arg]]})
    assert answer.status_code == 200, answer.text
    result: str = answer.json()["predictions"][0]
    return result


async def test_the_server_environment_and_proc_are_out_of_sight(api: Api) -> None:
    _, key = await deploy(api, "env")
    for path in (f"/proc/{os.getpid()}/environ", f"/proc/{os.getppid()}/environ"):
        assert (await attack(api, "env", key, "read", path)).startswith("refused:")
    assert (await attack(api, "env", key, "read", "/proc/1/environ")).startswith("refused:")
    seen = await attack(api, "env", key, "whoami")
    assert seen.startswith("uid 65534 ") or os.geteuid() != 0, seen
    assert str(os.getpid()) not in seen.split("pids")[1]  # only its own namespace's


async def test_secret_key_and_database_cannot_be_read(api: Api, settings: Settings) -> None:
    _, key = await deploy(api, "reader")
    data = settings.data_dir.resolve()
    assert (data / "secret.key").is_file() and (data / "modelrepo.db").is_file()
    for path in (
        "../../secret.key",  # from its package folder in the cache
        "/model/../../secret.key",
        str(data / "secret.key"),
        str(data / "modelrepo.db"),
        "/etc/shadow",
    ):
        assert (await attack(api, "reader", key, "read", path)).startswith("refused:"), path
    for path in (str(data / "modelrepo.db"), "../../modelrepo.db"):  # an admin token row
        assert (await attack(api, "reader", key, "write", path)).startswith("refused:"), path


async def test_another_models_cached_code_cannot_be_rewritten(api: Api, settings: Settings) -> None:
    await deploy(api, "victim")
    _, key = await deploy(api, "vandal")
    victims = sorted((settings.data_dir / "cache").glob("*/model_service.py"))
    assert victims
    before = [path.read_bytes() for path in victims]
    for path in [*victims, "/model/model_service.py", "model_service.py"]:
        result = await attack(api, "vandal", key, "write", str(path))
        assert result.startswith("refused:"), (path, result)
    assert [path.read_bytes() for path in victims] == before


async def test_no_network_unless_the_package_asks(api: Api) -> None:
    # PostgreSQL listens on this machine's loopback during the test run.
    _, key = await deploy(api, "offline")
    for address in ("127.0.0.1:5432", "[::1]:5432"):
        result = await attack(api, "offline", key, "connect", address)
        assert result.startswith("refused:"), result
    _, key = await deploy(api, "online", network=True)
    assert await attack(api, "online", key, "connect", "127.0.0.1:5432") == "connected"


async def test_a_setsid_grandchild_dies_with_delete_service(api: Api) -> None:
    service_id, key = await deploy(api, "daemon")
    marker = f"1000.{time.time_ns() % 10**9}"
    assert await attack(api, "daemon", key, "escape", marker) == "started"
    assert running(marker)
    deleted = await api.gql(
        "mutation($id: ID!) { deleteService(serviceId: $id) { __typename } }", {"id": service_id}
    )
    assert deleted["deleteService"]["__typename"] == "DeletedService"
    for _ in range(150):  # the data plane retires the service meanwhile
        if not running(marker):
            break
        await asyncio.sleep(0.1)
    assert not running(marker)


async def test_a_fork_bomb_stops_at_the_process_limit(api: Api) -> None:
    _, key = await deploy(api, "forks")
    result = await attack(api, "forks", key, "fork", "200")
    assert result.startswith("refused: BlockingIOError"), result  # EAGAIN from fork
    assert await attack(api, "forks", key, "whoami")  # the worker itself still answers


async def test_more_memory_than_the_ceiling_is_refused(api: Api, settings: Settings) -> None:
    imported = await import_upload(api, "greedy", "package.zip", attacker_package(), fmt=TORCH)
    versions = [{"versionId": imported["version"]["id"], "memoryMb": 524288}]
    result = await api.gql(PUBLISH, {"name": "greedy-svc", "versions": versions})
    refused = result["publishService"]
    assert refused["__typename"] == "ValidationError", refused
    assert "memoryMb" in refused["message"] or refused.get("field") == "memoryMb"


async def test_without_bubblewrap_user_code_is_refused_with_how_to_install(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"bwrap_path": "/nonexistent/bwrap"})
    async with open_api(settings) as api:
        imported = await import_upload(api, "nobwrap", "package.zip", attacker_package(), fmt=TORCH)
        versions = [{"versionId": imported["version"]["id"]}]
        result = await api.gql(PUBLISH, {"name": "nobwrap-svc", "versions": versions})
        service_id = result["publishService"]["service"]["id"]
        reason = await failed_reason(api, service_id)
    assert "apt-get install bubblewrap" in reason and "MODELREPO_UNSAFE_USER_CODE" in reason


async def test_unsafe_mode_runs_user_code_and_warns(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"unsafe_user_code": True, "bwrap_path": "/no/bwrap"})
    async with open_api(settings) as api:
        assert "MODELREPO_UNSAFE_USER_CODE=true" in caplog.text
        _, key = await deploy(api, "unsafe")
        seen = await attack(api, "unsafe", key, "whoami")
    assert seen.startswith(f"uid {os.getuid()} ")  # the server's own uid: no sandbox


def running(marker: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes()
            state = (cmdline.parent / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if marker.encode() in text and state not in ("Z", "X"):
            return True
    return False


async def failed_reason(api: Api, service_id: str) -> str:
    query = "query($id: ID!) { service(id: $id) { status statusReason } }"
    for _ in range(300):
        service = (await api.gql(query, {"id": service_id}))["service"]
        if service["status"] == "FAILED":
            reason: str = service["statusReason"]
            return reason
        await asyncio.sleep(0.05)
    raise AssertionError(f"the service never failed: {service}")


SPY = textwrap.dedent(
    """
    import json, os, resource

    def tried(path, mode):
        try:
            open(path, mode).close()
            return "allowed"
        except OSError as exc:
            return type(exc).__name__

    class Spy:
        def __init__(self):
            facts = {
                "uid": os.getuid(),
                "memory": resource.getrlimit(resource.RLIMIT_AS)[0],
                "processes": resource.getrlimit(resource.RLIMIT_NPROC)[0],
                "environ": tried("/proc/%d/environ" % SERVER, "rb"),
                "package": tried("/model/model_service.py", "a"),
                "job": tried("/job/mine.txt", "w"),
            }
            raise RuntimeError("facts " + json.dumps(facts))

        def predict(self, x):
            return x
    """
)


async def test_the_pytorch_export_runs_sandboxed_with_a_memory_limit(tmp_path: Path) -> None:
    package, work = tmp_path / "package", tmp_path / "work"
    package.mkdir()
    work.mkdir()
    (package / "model_service.py").write_text(f"SERVER = {os.getpid()}\n{SPY}")
    sandbox = Sandbox(max_memory_mb=2048, processes=32)
    example = {"x": np.zeros((1, 2), np.float32)}
    with pytest.raises(ExportFailed) as caught:
        await export(
            Method.PYTORCH_EXPORT_ONNX,
            package,
            work / "step0.onnx",
            example,
            [example],
            repeats=1,
            seconds=120,
            sandbox=sandbox,
        )
    facts = json.loads(str(caught.value).split("facts ", 1)[1])
    assert facts["memory"] == 2048 * 1024 * 1024 and facts["processes"] == 32
    assert facts["environ"] == "FileNotFoundError"  # the server's pid is not in its /proc
    assert facts["package"] in ("OSError", "PermissionError")  # read-only, not its own
    assert facts["job"] == "allowed"  # its own folder for what it writes
    assert facts["uid"] == (65534 if os.geteuid() == 0 else facts["uid"])
