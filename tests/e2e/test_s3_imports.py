"""Imports from object storage and from training tasks, against a real S3 endpoint (moto),
and the repository's own storage on S3 with presigned downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.e2e.conftest import Api, open_api
from tests.integration.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server
from tests.unit.package_builders import onnx_model

ONNX_BYTES = onnx_model().SerializeToString()

IMPORT = """
mutation($input: ImportModelInput!) {
  importModel(input: $input) {
    __typename
    ... on ImportSuccess {
      version { id status framework storageUri metrics { name value }
                source { kind uri mode trainingTaskId } files { path size sha256 downloadUrl } }
    }
    ... on ImportFailed { message version { status failure } }
    ... on Error { message }
  }
}"""


def _settings(tmp_path: Path, s3: S3Server, database_url: str, storage_url: str = "") -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        bootstrap_admin_token=False,
        batch_worker=False,
        storage_url=storage_url,
        s3_endpoint_url=s3.endpoint_url,
        s3_access_key_id=ACCESS_KEY_ID,
        s3_secret_access_key=SECRET_ACCESS_KEY,
        s3_region=REGION,
    )


@pytest.fixture
async def s3_api(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, database_url: str
) -> AsyncIterator[Api]:
    async with open_api(_settings(tmp_path, s3_server, database_url)) as api:
        yield api


async def _put(s3: S3Server, bucket: str, files: dict[str, bytes]) -> None:
    async with s3.client() as client:
        for key, data in files.items():
            await client.put_object(Bucket=bucket, Key=key, Body=data)


async def _keys(s3: S3Server, bucket: str) -> list[str]:
    async with s3.client() as client:
        listed = await client.list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _input(name: str, files: dict[str, Any], **version: Any) -> dict[str, Any]:
    return {"input": {"name": name, "version": {"format": "ONNX", "files": files, **version}}}


async def test_import_from_s3_copies_the_files(
    s3_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    await _put(s3_server, s3_bucket, {"runs/1/model.onnx": ONNX_BYTES, "runs/1/a/b.txt": b"x"})
    result = (await s3_api.gql(IMPORT, _input("from-s3", {"uri": f"s3://{s3_bucket}/runs/1"})))[
        "importModel"
    ]
    assert result["__typename"] == "ImportSuccess", result
    version = result["version"]
    assert version["source"] == {
        "kind": "object_storage",
        "uri": f"s3://{s3_bucket}/runs/1",
        "mode": "copy",
        "trainingTaskId": None,
    }
    assert sorted(f["path"] for f in version["files"]) == ["a/b.txt", "model.onnx"]
    assert await _keys(s3_server, s3_bucket) == ["runs/1/a/b.txt", "runs/1/model.onnx"]
    assert version["storageUri"].startswith("file://")


async def test_import_from_cos_with_move_deletes_the_source(
    s3_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    await _put(s3_server, s3_bucket, {"out/model.onnx": ONNX_BYTES, "keep/other.txt": b"k"})
    files = {"uri": f"cos://{s3_bucket}/out", "mode": "MOVE"}
    result = (await s3_api.gql(IMPORT, _input("moved", files)))["importModel"]
    assert result["__typename"] == "ImportSuccess", result
    assert result["version"]["source"]["mode"] == "move"
    assert await _keys(s3_server, s3_bucket) == ["keep/other.txt"]


async def test_a_refused_package_from_s3_is_not_moved(
    s3_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    await _put(s3_server, s3_bucket, {"bad/model.onnx": b"not onnx at all"})
    files = {"uri": f"s3://{s3_bucket}/bad", "mode": "MOVE"}
    result = (await s3_api.gql(IMPORT, _input("bad", files)))["importModel"]
    assert result["__typename"] == "ImportFailed"
    assert result["version"]["status"] == "FAILED"
    assert await _keys(s3_server, s3_bucket) == ["bad/model.onnx"]
    assert await s3_api.container.storage.list("") == []


async def test_import_from_a_training_task_fills_framework_and_metrics(
    s3_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    await _put(s3_server, s3_bucket, {"train/7/model.onnx": ONNX_BYTES})
    created = await s3_api.gql(
        'mutation($uri: String!) { createTrainingTask(name: "t7", framework: "PyTorch 2.3",'
        " outputUri: $uri) { ... on TrainingTaskPayload { task { id } } } }",
        {"uri": f"s3://{s3_bucket}/train/7"},
    )
    task_id = created["createTrainingTask"]["task"]["id"]
    report = (
        "mutation($id: ID!, $m: [MetricInput!]!) { reportTrainingMetrics(taskId: $id,"
        " metrics: $m) { __typename } }"
    )
    await s3_api.gql(report, {"id": task_id, "m": [{"name": "acc", "value": 0.5}]})
    await s3_api.gql(
        report, {"id": task_id, "m": [{"name": "acc", "value": 0.9}, {"name": "f1", "value": 0.7}]}
    )
    running = await s3_api.gql(IMPORT, _input("early", {"trainingTaskId": task_id}))
    assert running["importModel"]["__typename"] == "ValidationError"
    assert "running" in running["importModel"]["message"]

    await s3_api.gql(
        "mutation($id: ID!) { finishTrainingTask(taskId: $id) { __typename } }", {"id": task_id}
    )
    result = (
        await s3_api.gql(
            IMPORT,
            _input("trained", {"trainingTaskId": task_id}, metrics=[{"name": "f1", "value": 0.75}]),
        )
    )["importModel"]
    assert result["__typename"] == "ImportSuccess", result
    version = result["version"]
    assert version["framework"] == "PyTorch 2.3"
    assert version["metrics"] == [{"name": "acc", "value": 0.9}, {"name": "f1", "value": 0.75}]
    assert version["source"]["kind"] == "training_task"
    assert version["source"]["trainingTaskId"] == task_id
    assert version["source"]["uri"] == f"s3://{s3_bucket}/train/7"


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("file:///etc/passwd", "must start with s3:// or cos://"),
        ("http://169.254.169.254/latest/meta-data", "must start with s3:// or cos://"),
        ("s3://bucket/a/../b", "'..'"),
        ("s3://bucket/a#frag", "fragment"),
        ("s3:///nobucket", "no bucket"),
    ],
)
async def test_bad_source_uris_are_refused_before_anything_is_written(
    s3_api: Api, uri: str, needle: str
) -> None:
    before = await s3_api.container.store.last_position()
    result = (await s3_api.gql(IMPORT, _input("x", {"uri": uri})))["importModel"]
    assert result["__typename"] == "ValidationError", result
    assert needle in result["message"]
    assert await s3_api.container.store.last_position() == before


async def test_missing_bucket_empty_prefix_and_wrong_credentials(
    s3_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    before = await s3_api.container.store.last_position()
    missing = await s3_api.gql(IMPORT, _input("x", {"uri": "s3://no-such-bucket-123/p"}))
    assert missing["importModel"]["__typename"] == "SourceUnavailable"
    empty = await s3_api.gql(IMPORT, _input("x", {"uri": f"s3://{s3_bucket}/nothing"}))
    assert empty["importModel"]["__typename"] == "ValidationError"
    assert "no files under" in empty["importModel"]["message"]
    async with s3_server.enforce_credentials():
        s3_api.container.settings.s3_secret_access_key = "wrong-secret"
        try:
            refused = await s3_api.gql(IMPORT, _input("x", {"uri": f"s3://{s3_bucket}/p"}))
        finally:
            s3_api.container.settings.s3_secret_access_key = SECRET_ACCESS_KEY
    assert refused["importModel"]["__typename"] == "SourceUnavailable"
    assert "wrong-secret" not in refused["importModel"]["message"]
    assert await s3_api.container.store.last_position() == before


async def test_repository_storage_on_s3_gives_presigned_downloads(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, database_url: str
) -> None:
    await _put(s3_server, s3_bucket, {"in/model.onnx": ONNX_BYTES})
    settings = _settings(tmp_path, s3_server, database_url, storage_url=f"s3://{s3_bucket}/repo")
    async with open_api(settings) as api:
        result = (await api.gql(IMPORT, _input("on-s3", {"uri": f"s3://{s3_bucket}/in"})))[
            "importModel"
        ]
        assert result["__typename"] == "ImportSuccess", result
        version = result["version"]
        assert version["storageUri"].startswith(f"s3://{s3_bucket}/repo/models/")
        url = version["files"][0]["downloadUrl"]
        assert url.startswith(s3_server.endpoint_url)
    async with httpx.AsyncClient() as client:
        downloaded = await client.get(url)
    assert downloaded.status_code == 200 and downloaded.content == ONNX_BYTES
