"""Services and batch jobs as of a past moment, rebuilt from the event log: the state before
and after a change, a moment before they existed, and after their deletion."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from app.adapters.event_store.port import EventMeta
from tests.e2e.conftest import Api
from tests.e2e.serving_helpers import V1, V2, model_with_versions, publish

SERVICE_AS_OF = """
query($id: ID, $name: String, $asOf: DateTime) {
  service(id: $id, name: $name, asOf: $asOf) {
    id name status revision deleted asOf createdBy accessKey
    deployments { versionNumber trafficPercent version { name asOf } }
    revisions { revision kind restoredRevision createdBy createdAt
      deployments { versionNumber trafficPercent } }
  }
}"""
TRAFFIC = """
mutation($id: ID!, $traffic: [TrafficInput!]!) {
  setServiceTraffic(serviceId: $id, traffic: $traffic) { __typename }
}"""
UPGRADE = """
mutation($id: ID!, $to: DeployVersionInput!) {
  upgradeService(serviceId: $id, toVersion: $to, instances: 1) { __typename }
}"""
JOB_AS_OF = """
query($id: ID!, $asOf: DateTime) {
  batchJob(id: $id, asOf: $asOf) {
    id name status paused steps asOf createdBy spec
    runs { id status trigger asOf metrics { rows } }
  }
}"""
META = EventMeta(actor="test")
CREATE_JOB = """
mutation($input: BatchJobInput!) { createBatchJob(input: $input) {
  __typename ... on BatchJobPayload { job { id } } ... on Error { message } } }"""


async def _tick() -> datetime:
    await asyncio.sleep(0.02)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.02)
    return moment


async def _service(api: Api, **variables: Any) -> Any:
    return (await api.gql(SERVICE_AS_OF, variables))["service"]


async def test_service_as_of_rebuilds_past_traffic_and_revisions(api: Api) -> None:
    before_anything = await _tick()
    _, versions = await model_with_versions(api, "linear", V1, V2)
    service_id, _ = await publish(api, "linear-svc", [{"versionId": versions[0]}])
    published = await _tick()
    upgraded = await api.gql(UPGRADE, {"id": service_id, "to": {"versionId": versions[1]}})
    assert upgraded["upgradeService"]["__typename"] == "ServicePayload"
    split = [{"versionId": v, "percent": 50} for v in versions]
    changed = await api.gql(TRAFFIC, {"id": service_id, "traffic": split})
    assert changed["setServiceTraffic"]["__typename"] == "ServicePayload"
    split_at = await _tick()

    then = await _service(api, id=service_id, asOf=published.isoformat())
    assert then["name"] == "linear-svc" and then["asOf"] is not None
    assert then["revision"] == 1 and then["deleted"] is False
    assert then["status"] == "RUNNING"  # the data plane had reported it
    assert [(d["versionNumber"], d["trafficPercent"]) for d in then["deployments"]] == [(1, 100)]
    assert then["deployments"][0]["version"]["name"] == "V1"
    assert then["deployments"][0]["version"]["asOf"] is not None
    assert [r["kind"] for r in then["revisions"]] == ["publish"]
    assert then["revisions"][0]["createdBy"] == "admin-token"
    assert then["createdBy"] == "admin-token"
    assert then["accessKey"] is None  # never revealed from the past

    later = await _service(api, name="linear-svc", asOf=split_at.isoformat())
    assert later["revision"] == 3
    assert [(d["versionNumber"], d["trafficPercent"]) for d in later["deployments"]] == [
        (1, 50),
        (2, 50),
    ]
    assert [r["kind"] for r in later["revisions"]] == ["publish", "upgrade", "traffic"]
    assert later["revisions"][1]["deployments"] == [
        {"versionNumber": 1, "trafficPercent": 100},
        {"versionNumber": 2, "trafficPercent": 0},
    ]
    times = [r["createdAt"] for r in later["revisions"]]
    assert times == sorted(times)

    # the projections agree with the log about the present
    now = await _service(api, id=service_id, asOf=datetime.now(UTC).isoformat())
    current = await _service(api, id=service_id)
    assert current["asOf"] is None
    assert now["revisions"] == current["revisions"]
    assert now["deployments"][0]["trafficPercent"] == current["deployments"][0]["trafficPercent"]

    assert await _service(api, id=service_id, asOf=before_anything.isoformat()) is None
    assert await _service(api, name="linear-svc", asOf=before_anything.isoformat()) is None
    assert await _service(api, name="Not A Name!", asOf=split_at.isoformat()) is None


async def test_a_deleted_service_as_of_now_and_before(api: Api) -> None:
    _, versions = await model_with_versions(api, "linear", V1)
    service_id, _ = await publish(api, "gone-svc", [{"versionId": versions[0]}])
    alive = await _tick()
    deleted = await api.gql(
        "mutation($id: ID!) { deleteService(serviceId: $id) { __typename } }", {"id": service_id}
    )
    assert deleted["deleteService"]["__typename"] == "DeletedService"
    assert await _service(api, id=service_id) is None

    now = datetime.now(UTC).isoformat()
    gone = await _service(api, id=service_id, asOf=now)
    assert gone["deleted"] is True and gone["name"] == "gone-svc"
    assert await _service(api, name="gone-svc", asOf=now) is None  # the name was released
    by_name = await _service(api, name="gone-svc", asOf=alive.isoformat())
    assert by_name["id"] == service_id and by_name["deleted"] is False


async def test_as_of_arguments_are_checked(api: Api) -> None:
    naive = "2026-01-01T00:00:00"
    service = await api.post(SERVICE_AS_OF, {"name": "x", "asOf": naive})
    assert "time zone" in service.json()["errors"][0]["message"]
    job = await api.post(JOB_AS_OF, {"id": "00000000-0000-4000-8000-000000000000", "asOf": naive})
    assert "time zone" in job.json()["errors"][0]["message"]
    bad_id = await api.post(JOB_AS_OF, {"id": "nope", "asOf": "2026-01-01T00:00:00Z"})
    assert "not a valid id" in bad_id.json()["errors"][0]["message"]
    unknown = await api.gql(
        JOB_AS_OF, {"id": "00000000-0000-4000-8000-000000000000", "asOf": "2026-01-01T00:00:00Z"}
    )
    assert unknown["batchJob"] is None


async def test_batch_job_as_of_rebuilds_past_status_steps_and_runs(api: Api) -> None:
    before_anything = await _tick()
    _, versions = await model_with_versions(api, "linear", V1)
    steps = [{"kind": "standard_scale", "column": "x1", "mean": 0.0, "std": 2.0}]
    job_input = {
        "name": "nightly",
        "versionId": versions[0],
        "inputUri": "s3://bucket/in/data.csv",
        "inputFormat": "CSV",
        "outputUri": "s3://bucket/out",
        "outputFormat": "JSONL",
        "steps": steps,
    }
    created = (await api.gql(CREATE_JOB, {"input": job_input}))["createBatchJob"]
    assert created["__typename"] == "BatchJobPayload", created
    job_id = created["job"]["id"]
    just_created = await _tick()
    run = await api.container.batch.trigger(job_id, meta=META)
    triggered = await _tick()
    await api.gql("mutation($id: ID!) { pauseBatchJob(jobId: $id) { __typename } }", {"id": job_id})
    await api.gql(
        "mutation($id: ID!, $steps: JSON) { updateBatchJob(jobId: $id, steps: $steps)"
        " { __typename } }",
        {"id": job_id, "steps": []},
    )
    await api.container.batch.cancel_run(str(run.id), meta=META)
    changed = await _tick()

    first = await api.gql(JOB_AS_OF, {"id": job_id, "asOf": just_created.isoformat()})
    job = first["batchJob"]
    assert job["name"] == "nightly" and job["status"] == "ACTIVE" and job["paused"] is False
    assert job["steps"] == steps and job["runs"] == [] and job["asOf"] is not None
    assert job["createdBy"] == "admin-token"
    assert job["spec"]["input_uri"] == "s3://bucket/in/data.csv"

    pending = await api.gql(JOB_AS_OF, {"id": job_id, "asOf": triggered.isoformat()})
    (past_run,) = pending["batchJob"]["runs"]
    assert past_run["id"] == str(run.id) and past_run["status"] == "PENDING"
    assert past_run["trigger"] == "manual" and past_run["metrics"] is None

    after = (await api.gql(JOB_AS_OF, {"id": job_id, "asOf": changed.isoformat()}))["batchJob"]
    assert after["status"] == "PAUSED" and after["paused"] is True and after["steps"] == []
    assert [r["status"] for r in after["runs"]] == ["CANCELLED"]

    await api.gql(
        "mutation($id: ID!) { deleteBatchJob(jobId: $id) { __typename } }", {"id": job_id}
    )
    now = datetime.now(UTC).isoformat()
    assert (await api.gql(JOB_AS_OF, {"id": job_id}))["batchJob"] is None
    gone = (await api.gql(JOB_AS_OF, {"id": job_id, "asOf": now}))["batchJob"]
    assert gone["status"] == "DELETED" and gone["name"] == "nightly"
    never = await api.gql(JOB_AS_OF, {"id": job_id, "asOf": before_anything.isoformat()})
    assert never["batchJob"] is None
