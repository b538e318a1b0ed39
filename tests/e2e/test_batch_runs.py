"""Batch runs end to end against a real S3 endpoint: CSV in, preprocessing, the ONNX
model, JSON Lines out; a missing column and a missing input fail the run with a reason;
a re-executed run never duplicates rows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from app.adapters.event_store.port import EventMeta
from domain.batch import BatchRun, RunStatus
from projections.batch import runs_of
from tests.e2e.conftest import Api, open_api
from tests.e2e.serving_helpers import V1, model_with_versions
from tests.e2e.test_s3_imports import _settings
from tests.integration.s3_server import S3Server

META = EventMeta(actor="test")
ROWS = 250


@pytest.fixture
async def batch_api(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, database_url: str
) -> AsyncIterator[Api]:
    async with open_api(_settings(tmp_path, s3_server, database_url)) as api:
        api.container.batch_worker.chunk_rows = 100  # several chunks and parts
        yield api


async def _put(s3: S3Server, bucket: str, key: str, body: bytes) -> None:
    async with s3.client() as client:
        await client.put_object(Bucket=bucket, Key=key, Body=body)


async def _outputs(s3: S3Server, bucket: str, prefix: str) -> dict[str, bytes]:
    async with s3.client() as client:
        listed = await client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        found = {}
        for item in listed.get("Contents", []):
            body = await client.get_object(Bucket=bucket, Key=item["Key"])
            found[item["Key"]] = await body["Body"].read()
    return found


def _csv(columns: str = "id,x1,x2,x3,x4") -> bytes:
    lines = [columns] + [f"r{i},{i},1,1,1" for i in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


SCALE_X1 = [{"kind": "standard_scale", "column": "x1", "mean": 0.0, "std": 2.0}]


async def _job(
    api: Api,
    bucket: str,
    version: str,
    *,
    schedule: dict[str, Any] | None = None,
    steps: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> Any:
    """A job over s3://bucket/in/data.csv (JSON Lines out, scaling x1, running now unless
    told otherwise)."""
    base = {
        "input_uri": f"s3://{bucket}/in/data.csv",
        "input_format": "CSV",
        "output_uri": f"s3://{bucket}/out",
        "output_format": "JSONL",
        "id_column": "id",
    }
    return await api.container.batch.create_job(
        "score",
        version,
        {**base, **spec},
        schedule or {"kind": "ONCE"},
        SCALE_X1 if steps is None else steps,
        meta=META,
    )


async def test_a_run_reads_scores_and_writes_every_row_once(
    batch_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    api = batch_api
    _, versions = await model_with_versions(api, "linear", V1)
    await _put(s3_server, s3_bucket, "in/data.csv", _csv())
    job = await _job(api, s3_bucket, versions[0])
    # a ONCE job runs at its start time (now, by default): the worker schedules and runs it
    assert await api.container.batch_worker.tick() == 1
    (row,) = await runs_of(api.container.db, str(job.id))
    stored = await api.container.models.repo.get(UUID(row.id), BatchRun, kind="run")
    assert stored.status == RunStatus.COMPLETED, stored.reason
    assert stored.result["rows"] == ROWS and len(stored.result["outputs"]) == 3

    def rows_of(outputs: dict[str, bytes]) -> list[dict[str, Any]]:
        return [
            json.loads(line)
            for key, body in sorted(outputs.items())
            if key.rsplit("/", 1)[-1].startswith("part-")
            for line in body.decode().splitlines()
        ]

    rows = rows_of(await _outputs(s3_server, s3_bucket, "out/"))
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(ROWS)]
    # y = x1/2*1 + 2 + 3 + 4 + 0.5 with x1 scaled by std 2
    assert rows[10]["y"] == pytest.approx(10 / 2 + 9.5), rows[10]

    # running again into the same output (what a retry after a crash does) rewrites the
    # same parts: no row is duplicated
    await api.container.batch.trigger(job.id, meta=META)
    assert await api.container.batch_worker.tick() == 1
    again = rows_of(await _outputs(s3_server, s3_bucket, "out/"))
    assert [r["id"] for r in again] == [f"r{i}" for i in range(ROWS)]


async def test_bad_inputs_fail_the_run_with_a_reason(
    batch_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    api = batch_api
    _, versions = await model_with_versions(api, "linear", V1)
    await _put(s3_server, s3_bucket, "in/data.csv", _csv("id,a,b,c,d"))
    wrong = await _job(api, s3_bucket, versions[0])
    missing = await _job(api, s3_bucket, versions[0], input_uri=f"s3://{s3_bucket}/in/none.csv")
    await api.container.batch_worker.tick()
    reasons = []
    for job in (wrong, missing):
        (row,) = await runs_of(api.container.db, str(job.id))
        assert row.status == RunStatus.FAILED
        reasons.append(row.reason)
    assert "x1" in reasons[0]
    assert "none.csv" in reasons[1]


async def test_jobs_refuse_bad_locations(batch_api: Api, s3_bucket: str) -> None:
    _, versions = await model_with_versions(batch_api, "linear", V1)
    with pytest.raises(Exception, match="must differ from the input"):
        await _job(batch_api, s3_bucket, versions[0], output_uri=f"s3://{s3_bucket}/in/data.csv")
    with pytest.raises(Exception, match="steps"):
        await batch_api.container.batch.create_job(
            "bad-steps",
            versions[0],
            {
                "input_uri": f"s3://{s3_bucket}/in/data.csv",
                "input_format": "CSV",
                "output_uri": f"s3://{s3_bucket}/out",
                "output_format": "CSV",
            },
            {"kind": "ONCE"},
            [{"kind": "explode"}],
            meta=META,
        )


CREATE = """
mutation($input: BatchJobInput!) { createBatchJob(input: $input) {
  __typename ... on BatchJobPayload { job { id name status schedule steps runs { status } } }
  ... on Error { message } } }"""


def _gql_input(bucket: str, version: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "nightly",
        "versionId": version,
        "inputUri": f"s3://{bucket}/in/data.csv",
        "inputFormat": "CSV",
        "outputUri": f"s3://{bucket}/out",
        "outputFormat": "PARQUET",
        "idColumn": "id",
        **extra,
    }


async def test_batch_jobs_through_graphql(
    batch_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    api = batch_api
    _, versions = await model_with_versions(api, "linear", V1)
    schedule = {"kind": "PERIODIC", "expression": "0 3 * * *", "timeZone": "Europe/Berlin"}
    created = (
        await api.gql(CREATE, {"input": _gql_input(s3_bucket, versions[0], schedule=schedule)})
    )["createBatchJob"]
    assert created["__typename"] == "BatchJobPayload", created
    job_id = created["job"]["id"]
    assert created["job"]["schedule"]["expression"] == "0 3 * * *"
    paused = await api.gql(
        "mutation($id: ID!) { pauseBatchJob(jobId: $id) { __typename ... on BatchJobPayload"
        " { job { status paused } } } }",
        {"id": job_id},
    )
    assert paused["pauseBatchJob"]["job"] == {"status": "PAUSED", "paused": True}
    await _put(s3_server, s3_bucket, "in/data.csv", _csv())
    triggered = await api.gql(
        "mutation($id: ID!) { triggerBatchJob(jobId: $id) { __typename ... on BatchRunPayload"
        " { run { id status trigger } } } }",
        {"id": job_id},
    )
    assert triggered["triggerBatchJob"]["run"]["status"] == "PENDING"
    await api.container.batch_worker.tick()
    job = await api.gql(
        "query($id: ID!) { batchJob(id: $id) { runs { status trigger result reason } } }",
        {"id": job_id},
    )
    (run,) = job["batchJob"]["runs"]
    assert run["status"] == "COMPLETED" and run["result"]["rows"] == ROWS, run
    listed = await api.gql('{ batchJobs(status: "PAUSED") { nodes { id } } }')
    assert listed["batchJobs"]["nodes"] == [{"id": job_id}]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"schedule": {"kind": "PERIODIC", "expression": "0 0 * * * *"}}, "6"),
        ({"schedule": {"kind": "PERIODIC", "expression": "*/0 * * * *"}}, "0"),
        ({"schedule": {"kind": "PERIODIC", "expression": "0 0 30 2 *"}}, "February 30"),
        ({"schedule": {"kind": "PERIODIC", "expression": "every 1s"}}, "1 minute"),
        ({"schedule": {"kind": "ONCE", "timeZone": "Nowhere/City"}}, "Nowhere/City"),
        (
            {
                "schedule": {
                    "kind": "ONCE",
                    "start": "2026-03-08T02:30:00",
                    "timeZone": "America/New_York",
                }
            },
            "does not exist in America/New_York",
        ),
        ({"outputUri": "s3://BUCKET/in/data.csv"}, "must differ from the input"),
        ({"steps": [{"kind": "scale"}]}, "steps"),
        ({"steps": "nope"}, "steps"),
        ({"maxAttempts": 0}, "between 1 and 10"),
    ],
)
async def test_bad_batch_jobs(
    batch_api: Api, s3_bucket: str, extra: dict[str, Any], needle: str
) -> None:
    _, versions = await model_with_versions(batch_api, "linear", V1)
    body = _gql_input(s3_bucket, versions[0], **extra)
    if body["outputUri"] == "s3://BUCKET/in/data.csv":
        body["outputUri"] = f"s3://{s3_bucket}/in/data.csv"
    data = await batch_api.gql(CREATE, {"input": body})
    result = data["createBatchJob"]
    assert result["__typename"] == "ValidationError", result
    assert needle in result["message"]


@pytest.mark.parametrize(("policy", "executed"), [("FORBID", 0), ("ALLOW", 1)])
async def test_concurrency_policy(
    batch_api: Api, s3_server: S3Server, s3_bucket: str, policy: str, executed: int
) -> None:
    api = batch_api
    _, versions = await model_with_versions(api, "linear", V1)
    await _put(s3_server, s3_bucket, "in/data.csv", _csv())
    schedule = {"kind": "PERIODIC", "expression": "0 0 1 1 *", "concurrency": policy}
    job = await api.container.batch.create_job(
        "policy",
        versions[0],
        {
            "input_uri": f"s3://{s3_bucket}/in/data.csv",
            "input_format": "CSV",
            "output_uri": f"s3://{s3_bucket}/out",
            "output_format": "CSV",
            "id_column": "id",
        },
        {**schedule, "start": datetime(2030, 1, 1, tzinfo=UTC)},  # nothing due now
        [],
        meta=META,
    )
    running = await api.container.batch.trigger(job.id, meta=META)
    assert await api.container.batch.claim(running.id, "elsewhere", meta=META) is not None
    waiting = await api.container.batch.trigger(job.id, meta=META)
    assert await api.container.batch_worker.tick() == executed
    rows = {r.id: r.status for r in await runs_of(api.container.db, str(job.id))}
    assert rows[str(waiting.id)] == ("COMPLETED" if executed else "PENDING")
    assert rows[str(running.id)] == "RUNNING"
