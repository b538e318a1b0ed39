"""Training tasks: create, report metrics over time, finish; bad inputs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api

CREATE = """
mutation($name: String!, $framework: String!, $uri: String!) {
  createTrainingTask(name: $name, framework: $framework, outputUri: $uri) {
    __typename
    ... on TrainingTaskPayload { task { id name framework outputUri status } }
    ... on Error { message }
  }
}"""

REPORT = """
mutation($id: ID!, $metrics: [MetricInput!]!, $step: Int) {
  reportTrainingMetrics(taskId: $id, metrics: $metrics, step: $step) {
    __typename
    ... on TrainingTaskPayload { task { latestMetrics { name value } } }
    ... on Error { message }
  }
}"""

FINISH = """
mutation($id: ID!, $ok: Boolean!) {
  finishTrainingTask(taskId: $id, succeeded: $ok, message: "done") {
    __typename
    ... on TrainingTaskPayload { task { status message } }
    ... on Error { message }
  }
}"""

TASK = """
query($id: ID!) {
  trainingTask(id: $id) {
    name status latestMetrics { name value } metricHistory { step name value }
  }
}"""


async def _create(api: Api, name: str = "resnet-run-1") -> str:
    data = await api.gql(CREATE, {"name": name, "framework": "PyTorch 2.3", "uri": "s3://b/out/"})
    task_id: str = data["createTrainingTask"]["task"]["id"]
    return task_id


async def test_a_task_reports_metrics_over_time_and_finishes(api: Api) -> None:
    task_id = await _create(api)
    await api.gql(REPORT, {"id": task_id, "metrics": [{"name": "loss", "value": 0.9}], "step": 1})
    reported = await api.gql(
        REPORT,
        {
            "id": task_id,
            "metrics": [{"name": "loss", "value": 0.4}, {"name": "acc", "value": 0.8}],
            "step": 2,
        },
    )
    assert reported["reportTrainingMetrics"]["task"]["latestMetrics"] == [
        {"name": "acc", "value": 0.8},
        {"name": "loss", "value": 0.4},
    ]
    finished = await api.gql(FINISH, {"id": task_id, "ok": True})
    assert finished["finishTrainingTask"]["task"] == {"status": "SUCCEEDED", "message": "done"}
    task = (await api.gql(TASK, {"id": task_id}))["trainingTask"]
    assert task["metricHistory"] == [
        {"step": 1, "name": "loss", "value": 0.9},
        {"step": 2, "name": "acc", "value": 0.8},
        {"step": 2, "name": "loss", "value": 0.4},
    ]
    listed = await api.gql("{ trainingTasks(status: SUCCEEDED) { nodes { id } } }")
    assert listed["trainingTasks"]["nodes"] == [{"id": task_id}]


async def test_training_tasks_page_newest_first(api: Api) -> None:
    ids = [await _create(api, f"run-{i}") for i in range(3)]
    page = await api.gql("{ trainingTasks(first: 2) { nodes { id } pageInfo { endCursor } } }")
    assert [n["id"] for n in page["trainingTasks"]["nodes"]] == ids[::-1][:2]
    rest = await api.gql(
        "query($a: String) { trainingTasks(first: 2, after: $a) { nodes { id } } }",
        {"a": page["trainingTasks"]["pageInfo"]["endCursor"]},
    )
    assert [n["id"] for n in rest["trainingTasks"]["nodes"]] == [ids[0]]


@pytest.mark.parametrize(
    ("variables", "needle"),
    [
        ({"name": "", "framework": "PyTorch", "uri": "s3://b/o"}, "empty"),
        ({"name": "x", "framework": " ", "uri": "s3://b/o"}, "framework"),
        ({"name": "x", "framework": "PyTorch", "uri": ""}, "outputUri"),
        ({"name": "x", "framework": "PyTorch", "uri": "s3://" + "a" * 1100}, "1024"),
    ],
)
async def test_bad_tasks_are_refused(api: Api, variables: dict[str, Any], needle: str) -> None:
    result = (await api.gql(CREATE, variables))["createTrainingTask"]
    assert result["__typename"] == "ValidationError" and needle in result["message"]


async def test_bad_reports_and_finished_tasks(api: Api) -> None:
    task_id = await _create(api)
    for metrics, needle in (
        ([], "at least one"),
        ([{"name": "a", "value": 1}, {"name": "a", "value": 2}], "twice"),
        ([{"name": "", "value": 1}], "1-64"),
    ):
        result = await api.gql(REPORT, {"id": task_id, "metrics": metrics})
        assert needle in result["reportTrainingMetrics"]["message"]
    negative = await api.gql(
        REPORT, {"id": task_id, "metrics": [{"name": "a", "value": 1}], "step": -1}
    )
    assert negative["reportTrainingMetrics"]["__typename"] == "ValidationError"
    await api.gql(FINISH, {"id": task_id, "ok": False})
    late = await api.gql(REPORT, {"id": task_id, "metrics": [{"name": "a", "value": 1}]})
    assert late["reportTrainingMetrics"]["__typename"] == "InvalidState"
    assert "is failed; cannot report metrics" in late["reportTrainingMetrics"]["message"]
    unknown = await api.gql(FINISH, {"id": "00000000-0000-4000-8000-000000000000", "ok": True})
    assert unknown["finishTrainingTask"]["__typename"] == "NotFound"
    viewer = await api.post(
        CREATE, {"name": "v", "framework": "f", "uri": "s3://b/o"}, token=api.viewer
    )
    assert "needs the editor role" in viewer.json()["errors"][0]["message"]
