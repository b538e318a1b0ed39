"""Monitoring end to end: predictions (some failing) recorded per version, rolled up into
the database, read back by serviceMetrics with deploy annotations; /metrics; the bad
inputs; batch run metrics; monitoring switched off."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from tests.e2e.conftest import Api, open_api
from tests.e2e.serving_helpers import V1, V2, model_with_versions, predict, publish, wait_status
from tests.e2e.test_batch_runs import ROWS, _csv, _job, _put
from tests.e2e.test_s3_imports import _settings
from tests.e2e.test_services import SET_TRAFFIC, UPGRADE
from tests.integration.s3_server import S3Server

METRICS = """
query($service: String!, $from: DateTime!, $to: DateTime!, $step: Int!) {
  serviceMetrics(service: $service, from: $from, to: $to, step: $step) {
    __typename
    ... on ServiceMetrics {
      service serviceId step requestedStep resolution truncated notes from to
      series {
        version requests
        points { time requests ok clientErrors serverErrors throughput meanMs p50Ms p90Ms p99Ms
                 inflightPeak loadSeconds cpuPercent memoryBytes }
      }
      annotations { time type kind revision actor summary }
    }
    ... on ValidationError { message field }
    ... on NotFound { message kind }
    ... on InvalidState { message kind state }
  }
}"""
ONES = {"instances": [[1, 1, 1, 1]]}


def _window(minutes: float = 5) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "from": (now - timedelta(minutes=minutes)).isoformat(),
        "to": (now + timedelta(minutes=1)).isoformat(),
    }


async def _metrics(api: Api, service: str, step: int = 10, **window: str) -> Any:
    variables = {"service": service, "step": step, **(window or _window())}
    return (await api.gql(METRICS, variables, token=api.viewer))["serviceMetrics"]


async def _flush(api: Api) -> None:
    monitoring = api.container.monitoring
    assert monitoring is not None
    await monitoring.rollup.flush()


def _totals(series: dict[str, Any]) -> dict[str, int]:
    keys = ("requests", "ok", "clientErrors", "serverErrors")
    return {k: sum(p[k] for p in series["points"]) for k in keys}


async def test_predictions_roll_up_into_series_with_annotations(api: Api) -> None:
    _, versions = await model_with_versions(api, "linear", V1, V2)
    service_id, key = await publish(api, "mon-svc", [{"versionId": versions[0]}])
    for _ in range(5):
        assert (await predict(api, "mon-svc", key, ONES)).status_code == 200
    bad_rows = await predict(api, "mon-svc", key, {"instances": [[1, 2]]})
    assert bad_rows.status_code == 400
    assert (await predict(api, "mon-svc", "wrong-key", ONES)).status_code == 401
    v2 = await api.client.post(
        "/v2/models/mon-svc/infer",
        headers={"Authorization": key},
        json={"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1] * 4}]},
    )
    assert v2.status_code == 200, v2.text
    # testService goes through the same path but is not client traffic: not counted
    await api.gql(
        "mutation($id: ID!) { testService(serviceId: $id, payload: {instances: [[1,1,1,1]]})"
        " { __typename } }",
        {"id": service_id},
    )
    await _flush(api)

    # an upgrade and a traffic change become annotations; V2's traffic is its own series
    upgrade = {"id": service_id, "to": {"versionId": versions[1]}, "instances": 1}
    assert (await api.gql(UPGRADE, upgrade))["upgradeService"]["__typename"] == "ServicePayload"
    traffic = [{"versionId": versions[0], "percent": 0}, {"versionId": versions[1], "percent": 100}]
    changed = await api.gql(SET_TRAFFIC, {"id": service_id, "traffic": traffic})
    assert changed["setServiceTraffic"]["__typename"] == "ServicePayload"
    await wait_status(api, service_id, "RUNNING", revision=3)
    for _ in range(3):
        answer = await predict(api, "mon-svc", key, ONES)
        assert answer.json() == {"predictions": [[8.0]]}
    await _flush(api)

    result = await _metrics(api, "mon-svc")
    assert result["__typename"] == "ServiceMetrics", result
    assert (result["service"], result["serviceId"]) == ("mon-svc", service_id)
    interval = api.container.settings.metrics_interval_seconds  # 10 unless overridden
    assert (result["step"], result["resolution"], result["truncated"]) == (10, interval, False)
    by_version = {s["version"]: s for s in result["series"]}
    assert set(by_version) == {1, 2, None}
    assert _totals(by_version[1]) == {"requests": 7, "ok": 6, "clientErrors": 1, "serverErrors": 0}
    assert _totals(by_version[2])["ok"] == 3
    assert _totals(by_version[None]) == {
        "requests": 1,
        "ok": 0,
        "clientErrors": 1,
        "serverErrors": 0,
    }
    busy = [p for p in by_version[1]["points"] if p["requests"]]
    assert all(p["p50Ms"] > 0 and p["p99Ms"] >= p["p50Ms"] for p in busy)
    assert all(p["cpuPercent"] is not None and p["memoryBytes"] > 0 for p in busy)
    # in flight counts requests inside the model (a 400 for bad rows never got there)
    assert max(p["inflightPeak"] for p in busy) >= 1
    assert sum(p["throughput"] for p in by_version[1]["points"]) == pytest.approx(7 / 10)
    loads = [p["loadSeconds"] for p in by_version[2]["points"] if p["loadSeconds"] is not None]
    assert len(loads) == 1 and loads[0] > 0
    assert by_version[1]["requests"] == 7

    kinds = [a["kind"] for a in result["annotations"]]
    assert kinds[0] == "deploy" and "upgrade" in kinds and "traffic" in kinds
    traffic_note = next(a for a in result["annotations"] if a["kind"] == "traffic")
    assert traffic_note["summary"] == "traffic: V1 0%, V2 100%"
    assert traffic_note["revision"] == 3 and traffic_note["actor"] == "admin-token"

    # the same service by id; a window before it existed has no series and no annotations
    assert (await _metrics(api, service_id))["serviceId"] == service_id
    past = datetime.now(UTC) - timedelta(days=3)
    early = await _metrics(
        api,
        "mon-svc",
        3600,
        **{"from": past.isoformat(), "to": (past + timedelta(hours=1)).isoformat()},
    )
    assert (early["series"], early["annotations"]) == ([], [])


async def test_bad_inputs(api: Api) -> None:
    _, versions = await model_with_versions(api, "linear", V1)
    await publish(api, "bad-svc", [{"versionId": versions[0]}])
    now = datetime.now(UTC)
    backwards = await _metrics(
        api, "bad-svc", **{"from": now.isoformat(), "to": (now - timedelta(hours=1)).isoformat()}
    )
    assert backwards == {
        "__typename": "ValidationError",
        "message": "from must be before to",
        "field": "from",
    }
    for step in (0, -10):
        result = await _metrics(api, "bad-svc", step)
        assert (result["__typename"], result["field"]) == ("ValidationError", "step")

    wide = await _metrics(api, "bad-svc", 10, **_window(minutes=60 * 24 * 6))
    assert wide["__typename"] == "ServiceMetrics"
    assert wide["truncated"] is True and wide["step"] > 10 and wide["requestedStep"] == 10
    assert "at most 1000 points" in wide["notes"][0]
    assert len(wide["annotations"]) >= 1

    unknown = await _metrics(api, "no-such-service")
    assert (unknown["__typename"], unknown["kind"]) == ("NotFound", "service")

    variables = {"service": "bad-svc", "step": 10, **_window()}
    anonymous = await api.post(METRICS, variables, token=None)
    assert anonymous.status_code == 401


async def test_prometheus_scrape(api: Api) -> None:
    _, versions = await model_with_versions(api, "linear", V1)
    _, key = await publish(api, "prom-svc", [{"versionId": versions[0]}])
    for _ in range(4):
        await predict(api, "prom-svc", key, ONES)
    await predict(api, "prom-svc", key, {"instances": "nope"})

    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    labels = 'service="prom-svc",status_class="2xx",version="1"'
    assert re.search(rf"^modelrepo_predict_requests_total\{{{labels}\}} 4\.0$", text, re.M), text
    assert 'status_class="4xx"' in text
    count = re.search(
        r'^modelrepo_predict_latency_seconds_count\{service="prom-svc",version="1"\} (\S+)$',
        text,
        re.M,
    )
    assert count is not None and float(count[1]) == 5
    assert (
        'modelrepo_predict_latency_seconds_bucket{le="+Inf",service="prom-svc",version="1"} 5.0'
        in text
    )
    assert re.search(
        r'^modelrepo_model_load_seconds\{service="prom-svc",version="1"\} ', text, re.M
    )
    assert re.search(
        r'^modelrepo_predict_inflight\{service="prom-svc",version="1"\} 0\.0$', text, re.M
    )
    assert re.search(r"^process_resident_memory_bytes \d", text, re.M)
    # the label set stays small: service, version, status class (le for buckets)
    names = set(re.findall(r"(\w+)=\"", text))
    assert names <= {"service", "version", "status_class", "le", "status"}


@pytest.fixture
def quiet_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        bootstrap_admin_token=False,
        batch_worker=False,
        monitoring=False,
    )


async def test_monitoring_off(quiet_settings: Settings) -> None:
    async with open_api(quiet_settings) as api:
        assert api.container.monitoring is None
        assert api.container.serving.recorder is None
        assert (await api.client.get("/metrics")).status_code == 404
        result = await _metrics(api, "anything")
        assert (result["__typename"], result["state"]) == ("InvalidState", "off")


BATCH = """
query($job: ID!, $from: DateTime!, $to: DateTime!) {
  batchJobMetrics(jobId: $job, from: $from, to: $to) {
    __typename
    ... on BatchJobMetrics {
      jobId runs { runId attempt status rows durationSeconds rowsPerSecond }
    }
    ... on Error { message }
  }
  batchJob(id: $job) { runs { id status metrics { rows durationSeconds rowsPerSecond status } } }
}"""
BATCH_ONLY = """
query($job: ID!, $from: DateTime!, $to: DateTime!) {
  batchJobMetrics(jobId: $job, from: $from, to: $to) { __typename ... on Error { message } }
}"""


@pytest.fixture
async def batch_api(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, database_url: str
) -> AsyncIterator[Api]:
    async with open_api(_settings(tmp_path, s3_server, database_url)) as api:
        yield api


async def test_batch_runs_report_rows_and_duration(
    batch_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    api = batch_api
    _, versions = await model_with_versions(api, "linear", V1)
    await _put(s3_server, s3_bucket, "in/data.csv", _csv())
    job = await _job(api, s3_bucket, versions[0])
    failing = await _job(api, s3_bucket, versions[0], input_uri=f"s3://{s3_bucket}/in/none.csv")
    assert await api.container.batch_worker.tick() == 2

    data = await api.gql(BATCH, {"job": str(job.id), **_window()}, token=api.viewer)
    (run,) = data["batchJobMetrics"]["runs"]
    assert (run["status"], run["rows"], run["attempt"]) == ("COMPLETED", ROWS, 1)
    assert run["durationSeconds"] > 0
    assert run["rowsPerSecond"] == pytest.approx(ROWS / run["durationSeconds"], rel=1e-3)
    (listed,) = data["batchJob"]["runs"]
    assert listed["metrics"]["rows"] == ROWS and listed["metrics"]["status"] == "COMPLETED"

    failed = await api.gql(BATCH, {"job": str(failing.id), **_window()}, token=api.viewer)
    (attempt,) = failed["batchJobMetrics"]["runs"]
    assert (attempt["status"], attempt["rows"], attempt["rowsPerSecond"]) == ("FAILED", None, None)

    scrape = (await api.client.get("/metrics")).text
    assert f"modelrepo_batch_rows_total {float(ROWS)}" in scrape
    assert 'modelrepo_batch_runs_total{status="FAILED"} 1.0' in scrape

    now = datetime.now(UTC)
    backwards = {"job": str(job.id), "from": now.isoformat(), "to": now.isoformat()}
    result = (await api.gql(BATCH_ONLY, backwards))["batchJobMetrics"]
    assert result == {"__typename": "ValidationError", "message": "from must be before to"}
    unknown = {**_window(), "job": "00000000-0000-0000-0000-000000000000"}
    assert (await api.gql(BATCH_ONLY, unknown))["batchJobMetrics"]["__typename"] == "NotFound"
