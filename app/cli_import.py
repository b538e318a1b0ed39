"""`modelrepo import`: send a model to a running server (upload with progress, or a URI).

The client side only: it speaks GraphQL over HTTP like any other client. A directory is
zipped into a temporary file first; files stream from disk, never read whole.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx

CHUNK = 1024 * 1024
BOUNDARY = "modelrepo-cli-7c1e0a"

RESULT_FIELDS = """
    __typename
    ... on ImportSuccess { model { name } version { id name status size } }
    ... on ImportFailed { message }
    ... on Error { message }
"""
IMPORT_MODEL = f"""mutation($input: ImportModelInput!) {{
  result: importModel(input: $input) {{ {RESULT_FIELDS} }} }}"""
IMPORT_VERSION = f"""mutation($modelId: ID!, $version: VersionInput!) {{
  result: importModelVersion(modelId: $modelId, version: $version) {{ {RESULT_FIELDS} }} }}"""
FIND_MODEL = "query($name: String!) { model(name: $name) { id } }"


class CliError(Exception):
    pass


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, out: TextIO = sys.stderr) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.out = out
        self.started = time.monotonic()
        self._shown = -1.0

    def add(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._shown >= 0.2 or self.done >= self.total:
            self._shown = now
            share = self.done / self.total
            rate = self.done / max(now - self.started, 1e-6) / 1e6
            bar = "#" * int(share * 30)
            self.out.write(
                f"\ruploading [{bar:<30}] {share:6.1%} {self.done / 1e6:8.1f}/"
                f"{self.total / 1e6:.1f} MB {rate:6.1f} MB/s"
            )
            self.out.flush()

    def finish(self) -> None:
        self.out.write("\n")
        self.out.flush()


def multipart(
    query: str, variables: dict[str, Any], path: str, file: Path, progress: Progress | None
) -> tuple[Iterator[bytes], int]:
    """A GraphQL multipart request body (streamed from ``file``) and its length."""
    operations = json.dumps({"query": query, "variables": variables}).encode()
    files_map = json.dumps({"0": [f"variables.{path}"]}).encode()
    name = file.name.replace('"', "_")
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'.encode()
        + operations
        + f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'.encode()
        + files_map
        + (
            f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="0"; filename="{name}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
    )
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    size = file.stat().st_size

    def body() -> Iterator[bytes]:
        yield head
        with file.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                if progress is not None:
                    progress.add(len(chunk))
                yield chunk
        yield tail

    return body(), len(head) + size + len(tail)


def zip_directory(directory: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, path.relative_to(directory).as_posix())


def run_import(
    source: str,
    *,
    model: str,
    model_format: str,
    new_version: bool,
    server: str,
    token: str,
    runtime: str | None = None,
    framework: str | None = None,
    move: bool = False,
) -> dict[str, Any]:
    """Import and return the mutation's result; raises CliError with a message."""
    version: dict[str, Any] = {"format": model_format.upper()}
    if runtime:
        version["runtime"] = runtime
    if framework:
        version["framework"] = framework
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=None) as client:
        model_id = _find_model(client, model) if new_version else None
        remote = source.startswith(("s3://", "cos://"))
        if remote:
            version["files"] = {"uri": source, "mode": "MOVE" if move else "COPY"}
        else:
            if move:
                raise CliError("--move is for s3:// and cos:// sources")
            version["files"] = {"upload": None}
        if model_id is not None:
            query, variables, path = (
                IMPORT_VERSION,
                {"modelId": model_id, "version": version},
                ("version.files.upload"),
            )
        else:
            query, variables = IMPORT_MODEL, {"input": {"name": model, "version": version}}
            path = "input.version.files.upload"
        if remote:
            response = client.post("/graphql", json={"query": query, "variables": variables})
        else:
            response = _upload(client, query, variables, path, Path(source))
    return _result(response)


def _find_model(client: httpx.Client, name: str) -> str:
    response = client.post("/graphql", json={"query": FIND_MODEL, "variables": {"name": name}})
    found = _data(response)["model"]
    if found is None:
        raise CliError(f"no model named {name!r}; leave out --new-version to create it")
    model_id: str = found["id"]
    return model_id


def _upload(
    client: httpx.Client, query: str, variables: dict[str, Any], path: str, source: Path
) -> httpx.Response:
    if not source.exists():
        raise CliError(f"{source} does not exist")
    with tempfile.TemporaryDirectory() as scratch:
        file = source
        if source.is_dir():
            file = Path(scratch) / f"{source.name or 'package'}.zip"
            zip_directory(source, file)
        progress = Progress(file.stat().st_size)
        body, length = multipart(query, variables, path, file, progress)
        try:
            return client.post(
                "/graphql",
                content=body,
                headers={
                    "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                    "Content-Length": str(length),
                },
            )
        finally:
            progress.finish()


def _data(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        try:
            message = response.json()["errors"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            message = response.text[:300]
        raise CliError(f"server answered {response.status_code}: {message}")
    body = response.json()
    if body.get("errors"):
        raise CliError("; ".join(e.get("message", "?") for e in body["errors"]))
    data: dict[str, Any] = body["data"]
    return data


def _result(response: httpx.Response) -> dict[str, Any]:
    result: dict[str, Any] = _data(response)["result"]
    if result["__typename"] != "ImportSuccess":
        raise CliError(f"{result['__typename']}: {result.get('message', '')}")
    return result


def default_server() -> str:
    return os.environ.get("MODELREPO_URL", "http://127.0.0.1:8000")
