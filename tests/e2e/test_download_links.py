"""Signed download links: minted by versionDownloadLink, opened without a token; expired,
altered or misused links are refused with a reason."""

from __future__ import annotations

import io
import zipfile
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from app.http.links import link_key, signed_query
from tests.e2e.conftest import Api
from tests.e2e.test_uploads import ONNX_BYTES, import_upload

LINK = """
mutation($id: ID!, $path: String, $revision: Int) {
  versionDownloadLink(versionId: $id, path: $path, revision: $revision) {
    __typename ... on DownloadLink { url expiresAt } ... on Error { message }
  }
}"""


@pytest.fixture
async def version(api: Api) -> str:
    imported = await import_upload(api, "mlp", "model.onnx", ONNX_BYTES)
    assert imported["__typename"] == "ImportSuccess", imported
    return str(imported["version"]["id"])


async def _link(api: Api, version_id: str, **variables: Any) -> Any:
    data = await api.gql(LINK, {"id": version_id, **variables}, token=api.viewer)
    return data["versionDownloadLink"]


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return f"{parts.path}?{urlencode(query)}"


async def test_a_link_downloads_without_a_token(api: Api, version: str) -> None:
    link = await _link(api, version)
    assert link["__typename"] == "DownloadLink", link
    assert link["url"].startswith(f"http://test/v1/versions/{version}/package.zip?")
    package = await api.client.get(link["url"])  # no Authorization header
    assert package.status_code == 200, package.text
    with zipfile.ZipFile(io.BytesIO(package.content)) as archive:
        assert archive.read("model.onnx") == ONNX_BYTES

    one = await _link(api, version, path="model.onnx", revision=1)
    single = await api.client.get(one["url"])
    assert single.status_code == 200 and single.content == ONNX_BYTES
    # without a link or a token, the routes still ask for a token
    bare = await api.client.get(f"/v1/versions/{version}/package.zip")
    assert bare.status_code == 401


async def test_expired_and_altered_links_are_refused(api: Api, version: str) -> None:
    url = (await _link(api, version))["url"]
    key = link_key(api.container.settings)
    old, _ = signed_query(key, version, "package.zip", 1, now=1_000_000)
    expired = await api.client.get(f"/v1/versions/{version}/package.zip?{old}")
    assert expired.status_code == 403
    assert "expired" in expired.json()["error"]

    longer = await api.client.get(_with(url, expires="9999999999"))
    assert longer.status_code == 403 and "signature" in longer.json()["error"]
    forged = await api.client.get(_with(url, signature="0" * 64))
    assert forged.status_code == 403 and "signature" in forged.json()["error"]
    other_revision = await api.client.get(_with(url, revision="2"))
    assert other_revision.status_code == 403
    incomplete = await api.client.get(f"/v1/versions/{version}/package.zip?signature=abc")
    assert incomplete.status_code == 403
    assert "needs revision, expires and signature" in incomplete.json()["error"]

    # a package link does not open a file, nor another version
    query = urlsplit(url).query
    as_file = await api.client.get(f"/v1/versions/{version}/files/model.onnx?{query}")
    assert as_file.status_code == 403
    other = await import_upload(api, "other", "model.onnx", ONNX_BYTES)
    other_id = other["version"]["id"]
    elsewhere = await api.client.get(f"/v1/versions/{other_id}/package.zip?{query}")
    assert elsewhere.status_code == 403


async def test_bad_link_requests(api: Api, version: str) -> None:
    bad_id = await _link(api, "nope")
    assert bad_id["__typename"] == "ValidationError" and "versionId" in bad_id["message"]
    unknown = await _link(api, "00000000-0000-4000-8000-000000000000")
    assert unknown["__typename"] == "NotFound"
    no_file = await _link(api, version, path="../secret.key")
    assert no_file["__typename"] == "NotFound" and "secret.key" in no_file["message"]
    no_revision = await _link(api, version, revision=7)
    assert no_revision["__typename"] == "NotFound" and "7" in no_revision["message"]
    anonymous = await api.post(LINK, {"id": version}, token=None)
    assert anonymous.status_code == 401
