"""Prediction services end to end: publish, predict (v1, host, v2), keys, traffic,
upgrade, rollback, test, delete — and the bad inputs."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest

from tests.e2e.conftest import Api
from tests.e2e.serving_helpers import (
    SERVICE,
    V1,
    V2,
    model_with_versions,
    predict,
    publish,
    wait_status,
)

SET_TRAFFIC = """
mutation($id: ID!, $traffic: [TrafficInput!]!) {
  setServiceTraffic(serviceId: $id, traffic: $traffic) {
    __typename ... on ServicePayload { service { revision } } ... on Error { message }
  }
}"""
UPGRADE = """
mutation($id: ID!, $to: DeployVersionInput!, $instances: Int) {
  upgradeService(serviceId: $id, toVersion: $to, instances: $instances) {
    __typename ... on ServicePayload { service { revision } } ... on Error { message }
  }
}"""
ROLLBACK = """
mutation($id: ID!, $revision: Int) {
  rollbackService(serviceId: $id, revision: $revision) {
    __typename ... on ServicePayload { service { revision } } ... on Error { message }
  }
}"""
ROTATE = """
mutation($id: ID!) { rotateServiceKey(serviceId: $id) {
  __typename ... on ServiceWithKey { accessKey } } }"""
TEST = """
mutation($id: ID!, $payload: JSON!) { testService(serviceId: $id, payload: $payload) {
  __typename ... on TestServiceSuccess { response statusCode latencyMs versionNumber }
  ... on Error { message } } }"""
ONES = {"instances": [[1, 1, 1, 1]]}


@pytest.fixture
async def served(api: Api) -> tuple[Api, str, str, list[str]]:
    _, versions = await model_with_versions(api, "linear", V1, V2)
    service_id, key = await publish(api, "linear-svc", [{"versionId": versions[0]}])
    return api, service_id, key, versions


async def test_publish_and_predict(served: tuple[Api, str, str, list[str]]) -> None:
    api, service_id, key, _ = served
    response = await predict(api, "linear-svc", key, {"instances": [[1, 1, 1, 1], [0, 0, 0, 1]]})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [[10.5], [4.5]]}
    assert response.headers["x-model-version"] == "1"
    bearer = await predict(api, "linear-svc", f"Bearer {key}", {"inputs": [[1, 1, 1, 1]]})
    assert bearer.json() == {"outputs": [[10.5]]}
    named = await predict(api, "linear-svc", key, {"instances": [{"x": [1, 1, 1, 1]}]})
    assert named.json() == {"predictions": [[10.5]]}

    service = (await api.gql(SERVICE, {"id": service_id}))["service"]
    host = await api.client.post(
        "/v1/models/m:predict",
        json=ONES,
        headers={"Authorization": key, "Host": f"{service['hostId']}.models.example.com"},
    )
    assert host.json() == {"predictions": [[10.5]]}
    assert service["endpoint"].endswith("/v1/models/linear-svc:predict")

    status = await api.client.get("/v1/models/linear-svc", headers={"Authorization": key})
    assert status.json()["model_version_status"][0]["state"] == "AVAILABLE"


async def test_v2_protocol(served: tuple[Api, str, str, list[str]]) -> None:
    api, _, key, _ = served
    auth = {"Authorization": key}
    infer = await api.client.post(
        "/v2/models/linear-svc/infer",
        json={
            "id": "r1",
            "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 1, 1, 1]}],
        },
        headers=auth,
    )
    assert infer.status_code == 200, infer.text
    body = infer.json()
    assert body["model_name"] == "linear-svc" and body["id"] == "r1"
    assert body["outputs"][0]["data"] == [10.5] and body["outputs"][0]["shape"] == [1, 1]
    meta = await api.client.get("/v2/models/linear-svc", headers=auth)
    assert meta.json()["inputs"][0]["name"] == "x"
    assert (await api.client.get("/v2/models/linear-svc/ready", headers=auth)).status_code == 200
    assert (await api.client.get("/v2/health/live")).status_code == 200
    assert (await api.client.get("/v2/health/ready")).status_code == 200


async def test_keys(served: tuple[Api, str, str, list[str]]) -> None:
    api, service_id, key, versions = served
    _, other_key = await publish(api, "other-svc", [{"versionId": versions[1]}])
    cases = [(None, 401), ("", 401), ("sk_wrong", 401), (other_key, 401)]
    for sent, status in cases:
        response = await predict(api, "linear-svc", sent, ONES)
        assert response.status_code == status, (sent, response.text)
        assert "error" in response.json()
    twice = await api.client.post(
        "/v1/models/linear-svc:predict",
        json=ONES,
        headers=[("Authorization", key), ("Authorization", key)],
    )
    assert twice.status_code == 400 and "one Authorization header" in twice.text
    unknown = await predict(api, "no-such-svc", key, ONES)
    assert unknown.status_code == 404

    rotated = (await api.gql(ROTATE, {"id": service_id}))["rotateServiceKey"]["accessKey"]
    assert (await predict(api, "linear-svc", key, ONES)).status_code == 401
    assert (await predict(api, "linear-svc", rotated, ONES)).status_code == 200
    revealed = await api.gql(
        "query($id: ID!) { service(id: $id) { accessKey } }", {"id": service_id}
    )
    assert revealed["service"]["accessKey"] == rotated
    viewer = await api.post(
        "query($id: ID!) { service(id: $id) { accessKey } }", {"id": service_id}, token=api.viewer
    )
    assert "needs the editor role" in viewer.json()["errors"][0]["message"]
    history = await api.gql(
        "query($id: ID!) { history(aggregateId: $id) { nodes { payload } } }", {"id": service_id}
    )
    assert rotated not in json.dumps(history) and key not in json.dumps(history)


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "JSON"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "deep"),
        (b'{"instances": []}', 400, "instances"),
        (b'{"instances": [[NaN, 1, 1, 1]]}', 400, "NaN"),
        (b'{"instances": [[Infinity, 1, 1, 1]]}', 400, "NaN"),
        (b'{"instances": [[1, 1, 1]]}', 400, "'x'"),
        (b'{"instances": [["a", 1, 1, 1]]}', 400, "'x'"),
    ],
)
async def test_bad_predict_bodies(
    served: tuple[Api, str, str, list[str]], body: bytes, status: int, needle: str
) -> None:
    api, _, key, _ = served
    response = await api.client.post(
        "/v1/models/linear-svc:predict", content=body, headers={"Authorization": key}
    )
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]
    assert (await predict(api, "linear-svc", key, ONES)).status_code == 200  # still serving


async def test_body_and_row_limits(served: tuple[Api, str, str, list[str]]) -> None:
    api, _, key, _ = served
    many = {"instances": [[1, 1, 1, 1]] * (api.container.settings.max_predict_rows + 1)}
    assert (await predict(api, "linear-svc", key, many)).status_code == 413
    big = b'{"instances": [' + b"[1,1,1,1]," * 3_000_000 + b"[1,1,1,1]]}"
    response = await api.client.post(
        "/v1/models/linear-svc:predict", content=big, headers={"Authorization": key}
    )
    assert response.status_code == 413


async def test_traffic_split_and_bad_splits(served: tuple[Api, str, str, list[str]]) -> None:
    api, service_id, key, versions = served
    partial = await api.gql(
        UPGRADE, {"id": service_id, "to": {"versionId": versions[1]}, "instances": 1}
    )
    assert partial["upgradeService"]["__typename"] == "ServicePayload", partial
    service = await wait_status(api, service_id, "RUNNING", revision=2)
    assert [d["trafficPercent"] for d in service["deployments"]] == [100, 0]

    split = [{"versionId": versions[0], "percent": 90}, {"versionId": versions[1], "percent": 10}]
    result = await api.gql(SET_TRAFFIC, {"id": service_id, "traffic": split})
    assert result["setServiceTraffic"]["service"]["revision"] == 3
    await wait_status(api, service_id, "RUNNING", revision=3)
    counts: Counter[str] = Counter()
    for _ in range(20):
        responses = await asyncio.gather(
            *(predict(api, "linear-svc", key, ONES) for _ in range(50))
        )
        counts.update(r.headers["x-model-version"] for r in responses)
    assert abs(counts["1"] / 1000 - 0.9) <= 0.02 and abs(counts["2"] / 1000 - 0.1) <= 0.02

    for bad, needle in (
        ([{"versionId": versions[0], "percent": 0}], "sum to 100"),
        ([{"versionId": versions[0], "percent": 101}], "between 0 and 100"),
        (
            [
                {"versionId": versions[0], "percent": -10},
                {"versionId": versions[1], "percent": 110},
            ],
            "between 0 and 100",
        ),
        ([{"versionId": "00000000-0000-4000-8000-000000000000", "percent": 100}], "not deployed"),
    ):
        refused = (await api.gql(SET_TRAFFIC, {"id": service_id, "traffic": bad}))[
            "setServiceTraffic"
        ]
        assert refused["__typename"] == "ValidationError" and needle in refused["message"], refused
    nan = await api.post(
        SET_TRAFFIC, {"id": service_id, "traffic": [{"versionId": versions[0], "percent": "NaN"}]}
    )
    assert nan.json()["errors"]
    zero = [{"versionId": versions[0], "percent": 100}, {"versionId": versions[1], "percent": 0}]
    await api.gql(SET_TRAFFIC, {"id": service_id, "traffic": zero})
    await wait_status(api, service_id, "RUNNING", revision=4)
    responses = await asyncio.gather(*(predict(api, "linear-svc", key, ONES) for _ in range(100)))
    assert {r.headers["x-model-version"] for r in responses} == {"1"}


async def test_full_upgrade_rollback_and_revisions(served: tuple[Api, str, str, list[str]]) -> None:
    api, service_id, key, versions = served
    stop = asyncio.Event()
    answers: Counter[str] = Counter()

    async def steady_load() -> None:
        while not stop.is_set():
            response = await predict(api, "linear-svc", key, ONES)
            answers[f"{response.status_code} {response.json()}"] += 1

    load = [asyncio.create_task(steady_load()) for _ in range(4)]
    try:
        await api.gql(UPGRADE, {"id": service_id, "to": {"versionId": versions[1]}})
        await wait_status(api, service_id, "RUNNING", revision=2)
        await asyncio.sleep(0.3)  # the plane follows within its poll
        assert (await predict(api, "linear-svc", key, ONES)).json() == {"predictions": [[8.0]]}
        back = (await api.gql(ROLLBACK, {"id": service_id}))["rollbackService"]
        assert back["service"]["revision"] == 3
        service = await wait_status(api, service_id, "RUNNING", revision=3)
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.gather(*load)
    # nothing lost: every answer under load came from V1 or V2
    assert set(answers) <= {"200 {'predictions': [[10.5]]}", "200 {'predictions': [[8.0]]}"}
    assert len(answers) == 2
    assert (await predict(api, "linear-svc", key, ONES)).json() == {"predictions": [[10.5]]}
    assert [(r["kind"], r["restoredRevision"]) for r in service["revisions"]] == [
        ("publish", None),
        ("upgrade", None),
        ("rollback", 1),
    ]
    bad = (await api.gql(ROLLBACK, {"id": service_id, "revision": 9}))["rollbackService"]
    assert bad["__typename"] == "ValidationError"


async def test_a_corrupt_version_never_takes_traffic(
    served: tuple[Api, str, str, list[str]],
) -> None:
    api, service_id, key, versions = served
    version = await api.container.models.get_version(versions[1])
    prefix = version.file_sets[0]["prefix"]

    async def garbage() -> Any:
        yield b"corrupted after import"

    await api.container.storage.put(f"{prefix}/model.onnx", garbage())

    stop = asyncio.Event()
    statuses: Counter[int] = Counter()

    async def steady_load() -> None:
        while not stop.is_set():
            statuses[(await predict(api, "linear-svc", key, ONES)).status_code] += 1

    load = [asyncio.create_task(steady_load()) for _ in range(4)]
    try:
        await api.gql(UPGRADE, {"id": service_id, "to": {"versionId": versions[1]}})
        service = await wait_status(api, service_id, "FAILED", revision=2)
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.gather(*load)
    assert set(statuses) == {200} and statuses[200] > 10
    assert "V2 failed to load" in service["statusReason"]
    assert (await predict(api, "linear-svc", key, ONES)).json() == {"predictions": [[10.5]]}
    history = await api.gql(
        "query($id: ID!) { history(aggregateId: $id) { nodes { type } } }", {"id": service_id}
    )
    assert "VersionFailed" in [e["type"] for e in history["history"]["nodes"]]


async def test_test_service(served: tuple[Api, str, str, list[str]]) -> None:
    api, service_id, _, _ = served
    result = (await api.gql(TEST, {"id": service_id, "payload": ONES}))["testService"]
    assert result["response"] == {"predictions": [[10.5]]}
    assert result["statusCode"] == 200 and result["versionNumber"] == 1 and result["latencyMs"] > 0
    bad = (await api.gql(TEST, {"id": service_id, "payload": {"instances": []}}))["testService"]
    assert bad["statusCode"] == 400


async def test_deleting_versions_in_use(served: tuple[Api, str, str, list[str]]) -> None:
    api, service_id, key, versions = served
    delete = """mutation($id: ID!, $force: Boolean!) { deleteModelVersion(versionId: $id,
      force: $force) { __typename ... on InUse { services message } ... on Error { message } } }"""
    refused = (await api.gql(delete, {"id": versions[0], "force": False}))["deleteModelVersion"]
    assert refused == {
        "__typename": "InUse",
        "services": ["linear-svc"],
        "message": refused["message"],
    }
    used = await api.gql(
        "query($id: ID!) { modelVersion(id: $id) { associatedServices { name } } }",
        {"id": versions[0]},
    )
    assert used["modelVersion"]["associatedServices"] == [{"name": "linear-svc"}]
    forced = (await api.gql(delete, {"id": versions[0], "force": True}))["deleteModelVersion"]
    assert forced["__typename"] == "DeleteVersionSuccess", forced
    service = await wait_status(api, service_id, "STOPPED")
    assert service["deployments"] == []
    await api.container.serving.reconcile()  # what its poll does within 0.2 s
    stopped = await predict(api, "linear-svc", key, ONES)
    assert stopped.status_code == 503 and "stopped" in stopped.json()["error"]

    gone = await api.gql(
        "mutation($id: ID!) { deleteService(serviceId: $id) { __typename } }", {"id": service_id}
    )
    assert gone["deleteService"]["__typename"] == "DeletedService"
    assert (await predict(api, "linear-svc", key, ONES)).status_code == 404


@pytest.mark.parametrize("name", ["../x", "%2e%2e%2f", "UPPER", "-x", "", "a" * 64])
async def test_bad_service_names(api: Api, name: str) -> None:
    _, versions = await model_with_versions(api, "m", V1)
    result = (
        await api.gql(
            "mutation($n: String!, $v: ID!) { publishService(name: $n, versions: [{versionId: $v}])"
            " { __typename ... on Error { message } } }",
            {"n": name, "v": versions[0]},
        )
    )["publishService"]
    assert result["__typename"] == "ValidationError" and "service name" in result["message"]
