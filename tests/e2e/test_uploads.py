"""Importing by upload (GraphQL multipart requests), re-uploading, and downloading."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx

from app.settings import Settings
from tests.e2e.conftest import Api, open_api
from tests.unit.package_builders import onnx_model

UPLOAD_MODEL = """
mutation($input: ImportModelInput!) {
  importModel(input: $input) {
    __typename
    ... on ImportSuccess {
      model { id latestVersion { name size } }
      version { id name status size fileCount storageUri downloadUrl activeRevision
                source { kind uri } files { path size sha256 downloadUrl } }
    }
    ... on ImportFailed { message version { id status failure } }
    ... on Error { message }
  }
}"""

REUPLOAD = """
mutation($id: ID!, $files: FilesInput!) {
  reuploadModelVersionFiles(versionId: $id, files: $files) {
    __typename
    ... on VersionPayload { version { activeRevision pendingRevision
        fileSets { revision state fileCount } files(revision: 2) { path } } }
    ... on Error { message }
  }
}"""

ONNX_BYTES = onnx_model().SerializeToString()


async def upload(
    api: Api,
    query: str,
    variables: dict[str, Any],
    path: str,
    filename: str,
    content: bytes,
    *,
    token: str | None = None,
) -> httpx.Response:
    """A GraphQL multipart request with one file at ``path`` in the variables."""
    return await api.client.post(
        "/graphql",
        content=multipart_body(query, variables, path, filename, content),
        headers={
            "Authorization": f"Bearer {token or api.admin}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )


BOUNDARY = "modelrepo-test-boundary"


def multipart_body(
    query: str, variables: dict[str, Any], path: str, filename: str, content: bytes
) -> bytes:
    """Built by hand so that file names go out byte for byte (httpx would percent-encode
    a NUL)."""
    boundary = BOUNDARY
    operations = json.dumps({"query": query, "variables": variables})
    parts = [
        ("operations", None, operations.encode()),
        ("map", None, json.dumps({"0": [f"variables.{path}"]}).encode()),
        ("0", filename, content),
    ]
    body = b""
    for name, file_name, data in parts:
        disposition = f'form-data; name="{name}"'
        if file_name is not None:
            disposition += f'; filename="{file_name}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body


def _input(name: str, fmt: str = "ONNX", **version: Any) -> dict[str, Any]:
    return {
        "input": {"name": name, "version": {"format": fmt, "files": {"upload": None}, **version}}
    }


async def import_upload(api: Api, name: str, filename: str, content: bytes, **kw: Any) -> Any:
    response = await upload(
        api, UPLOAD_MODEL, _input(name, **kw), "input.version.files.upload", filename, content
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["importModel"]


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def test_upload_a_single_onnx_file(api: Api) -> None:
    result = await import_upload(api, "mlp", "model.onnx", ONNX_BYTES)
    assert result["__typename"] == "ImportSuccess", result
    version = result["version"]
    assert version["status"] == "READY" and version["activeRevision"] == 1
    assert version["size"] == len(ONNX_BYTES) and version["fileCount"] == 1
    assert version["source"] == {"kind": "upload", "uri": "model.onnx"}
    assert version["files"][0]["path"] == "model.onnx"
    assert result["model"]["latestVersion"]["size"] == len(ONNX_BYTES)
    assert version["storageUri"].startswith("file://")

    downloaded = await api.client.get(
        version["files"][0]["downloadUrl"], headers={"Authorization": f"Bearer {api.viewer}"}
    )
    assert downloaded.status_code == 200 and downloaded.content == ONNX_BYTES
    package = await api.client.get(
        version["downloadUrl"], headers={"Authorization": f"Bearer {api.viewer}"}
    )
    assert package.status_code == 200
    with zipfile.ZipFile(io.BytesIO(package.content)) as archive:
        assert archive.namelist() == ["model.onnx"]
        assert archive.read("model.onnx") == ONNX_BYTES
    anonymous = await api.client.get(version["downloadUrl"])
    assert anonymous.status_code == 401


async def test_upload_zip_and_tar_gz_packages(api: Api) -> None:
    files = {"model.onnx": ONNX_BYTES, "README.txt": b"notes", "extra/labels.txt": b"a\nb\n"}
    for name, archive in (("zipped", _zip(files)), ("tarred", _tar_gz(files))):
        result = await import_upload(api, name, f"{name}.bin", archive)
        assert result["__typename"] == "ImportSuccess", result
        paths = sorted(f["path"] for f in result["version"]["files"])
        assert paths == ["README.txt", "extra/labels.txt", "model.onnx"]


async def test_a_refused_package_fails_the_version_and_keeps_no_files(api: Api) -> None:
    torch_like = _zip({"archive/data.pkl": b"\x80\x02}q\x00.", "archive/version": b"3\n"})
    result = await import_upload(api, "fake", "model.onnx", torch_like)
    assert result["__typename"] == "ImportFailed", result
    assert result["version"]["status"] == "FAILED"
    assert result["version"]["failure"]
    objects = await api.container.storage.list("")
    assert objects == []


async def test_unsafe_archives_fail_and_write_nothing(api: Api) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape.onnx", ONNX_BYTES)
    result = await import_upload(api, "evil", "evil.zip", buffer.getvalue())
    assert result["__typename"] == "ImportFailed"
    assert "escape.onnx" in result["message"]
    assert await api.container.storage.list("") == []


async def test_bad_file_names_are_refused_before_anything_is_recorded(api: Api) -> None:
    before = await api.container.store.last_position()
    for name in ("a\x00b.onnx", "x" * 4096):
        result = await import_upload(api, "named", name, ONNX_BYTES)
        assert result["__typename"] == "ValidationError", result
        assert "file name refused" in result["message"]
    assert await api.container.store.last_position() == before


async def test_files_input_needs_exactly_one_source(api: Api) -> None:
    both = await api.gql(
        UPLOAD_MODEL,
        {"input": {"name": "x", "version": {"format": "ONNX", "files": {}}}},
    )
    assert both["importModel"]["__typename"] == "ValidationError"
    assert "exactly one of" in both["importModel"]["message"]


async def test_reupload_creates_a_pending_file_set(api: Api) -> None:
    result = await import_upload(api, "re", "model.onnx", ONNX_BYTES)
    version_id = result["version"]["id"]
    response = await upload(
        api,
        REUPLOAD,
        {"id": version_id, "files": {"upload": None}},
        "files.upload",
        "model-v2.onnx",
        ONNX_BYTES,
    )
    payload = response.json()["data"]["reuploadModelVersionFiles"]
    assert payload["__typename"] == "VersionPayload", payload
    version = payload["version"]
    assert (version["activeRevision"], version["pendingRevision"]) == (1, 2)
    assert version["fileSets"] == [
        {"revision": 1, "state": "ACTIVE", "fileCount": 1},
        {"revision": 2, "state": "PENDING", "fileCount": 1},
    ]
    assert version["files"] == [{"path": "model-v2.onnx"}]


async def test_upload_limits_and_broken_bodies(api: Api) -> None:
    no_token = await api.client.post(
        "/graphql",
        data={"operations": "{}", "map": "{}"},
        files={"0": ("a.onnx", b"x")},
    )
    assert no_token.status_code == 401
    truncated = await api.client.post(
        "/graphql",
        content=b'--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query"',
        headers={
            "Authorization": f"Bearer {api.admin}",
            "Content-Type": "multipart/form-data; boundary=b",
        },
    )
    assert 400 <= truncated.status_code < 500, truncated.text


async def test_uploads_over_the_limit_get_413_before_the_body_is_read(
    settings: Settings,
) -> None:
    limited = settings.model_copy(update={"max_upload_bytes": 10_000})
    async with open_api(limited) as api:
        declared = await upload(
            api, UPLOAD_MODEL, _input("big"), "input.version.files.upload", "m.onnx", b"0" * 20_000
        )
        assert declared.status_code == 413
        assert "larger than 10000 bytes" in declared.json()["errors"][0]["message"]

        whole = multipart_body(
            UPLOAD_MODEL, _input("big"), "input.version.files.upload", "m.onnx", b"0" * 20_000
        )

        async def body() -> AsyncIterator[bytes]:  # chunked: no content-length to trust
            for start in range(0, len(whole), 1000):
                yield whole[start : start + 1000]

        streamed = await api.client.post(
            "/graphql",
            content=body(),
            headers={
                "Authorization": f"Bearer {api.admin}",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
        )
        assert streamed.status_code == 413
        assert await api.container.store.last_position() == await _token_events(api)


async def _token_events(api: Api) -> int:
    return len([e for e in await api.container.store.read_log() if "ApiToken" in e.topic])
