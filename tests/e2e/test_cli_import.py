"""`modelrepo import` against a running server: files, directories, new versions, errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.servers import cli, running_servers
from tests.unit.package_builders import onnx_model


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "MODELREPO_DATA_DIR": str(tmp_path / "server-data"),
        "MODELREPO_BOOTSTRAP_ADMIN_TOKEN": "false",
    }
    token = cli(env, "token", "create", "--role", "editor", "--name", "uploader").stdout.strip()
    with running_servers(env, 1, tmp_path) as (url,):
        yield {**os.environ, "MODELREPO_URL": url, "MODELREPO_TOKEN": token}


def test_import_a_file_then_a_directory_as_a_new_version(
    server: dict[str, str], tmp_path: Path
) -> None:
    model_file = tmp_path / "model.onnx"
    model_file.write_bytes(onnx_model().SerializeToString())
    first = cli(server, "import", str(model_file), "--model", "mlp", "--format", "onnx")
    assert first.stdout.startswith("mlp V1: READY"), first.stderr
    assert "uploading [" in first.stderr and "100.0%" in first.stderr

    package = tmp_path / "package"
    (package / "extra").mkdir(parents=True)
    (package / "model.onnx").write_bytes(onnx_model().SerializeToString())
    (package / "extra" / "labels.txt").write_text("cat\ndog\n")
    second = cli(
        server, "import", str(package), "--model", "mlp", "--format", "ONNX", "--new-version"
    )
    assert second.stdout.startswith("mlp V2: READY"), second.stderr


def test_import_errors_are_clear(server: dict[str, str], tmp_path: Path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"definitely not onnx")
    refused = cli(server, "import", str(bogus), "--model", "m", "--format", "ONNX", check=False)
    assert refused.returncode == 1
    assert "ImportFailed" in refused.stderr and "ONNX" in refused.stderr

    missing = cli(
        server,
        "import",
        str(bogus),
        "--model",
        "nope",
        "--format",
        "ONNX",
        "--new-version",
        check=False,
    )
    assert missing.returncode == 1 and "no model named 'nope'" in missing.stderr

    no_file = cli(
        server, "import", str(tmp_path / "absent"), "--model", "x", "--format", "ONNX", check=False
    )
    assert no_file.returncode == 1 and "does not exist" in no_file.stderr

    bad_format = cli(server, "import", str(bogus), "--model", "x", "--format", "KERAS", check=False)
    assert bad_format.returncode == 1 and "KERAS" in bad_format.stderr

    no_token = cli(
        {**server, "MODELREPO_TOKEN": ""},
        "import",
        str(bogus),
        "--model",
        "x",
        "--format",
        "ONNX",
        check=False,
    )
    assert no_token.returncode == 2 and "MODELREPO_TOKEN" in no_token.stderr

    wrong_token = cli(
        {**server, "MODELREPO_TOKEN": "mr_wrong"},
        "import",
        str(bogus),
        "--model",
        "x",
        "--format",
        "ONNX",
        check=False,
    )
    assert wrong_token.returncode == 1 and "401" in wrong_token.stderr
