"""1,000 batch jobs created in quick succession: every one is recorded and listed once, an
idle scheduler pass writes nothing, and when their time comes each gets exactly one run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import Api
from tests.e2e.serving_helpers import V1, model_with_versions

JOBS = 1000
CREATE = """
mutation($input: BatchJobInput!) { createBatchJob(input: $input) {
  __typename ... on BatchJobPayload { job { id nextRunAt } } ... on Error { message } } }"""
LIST = """
query($after: String) { batchJobs(first: 100, after: $after) {
  edges { node { id } } pageInfo { hasNextPage endCursor } } }"""


async def test_a_thousand_jobs_in_quick_succession(api: Api) -> None:
    _, (version,) = await model_with_versions(api, "linear", V1)
    start = datetime.now(UTC) + timedelta(hours=1)
    gate = asyncio.Semaphore(32)
    schedule = {"kind": "PERIODIC", "expression": "every 6h", "start": start.isoformat()}

    async def create(n: int) -> dict[str, Any]:
        variables = {
            "input": {
                "name": f"job-{n}",
                "versionId": version,
                "inputUri": f"s3://inputs/{n}.csv",
                "inputFormat": "CSV",
                "outputUri": f"s3://outputs/{n}",
                "outputFormat": "CSV",
                "schedule": schedule,
            }
        }
        async with gate:
            result: dict[str, Any] = (await api.gql(CREATE, variables))["createBatchJob"]
        return result

    results = await asyncio.gather(*(create(n) for n in range(JOBS)))
    assert {r["__typename"] for r in results} == {"BatchJobPayload"}
    ids = {r["job"]["id"] for r in results}
    assert len(ids) == JOBS
    assert {datetime.fromisoformat(r["job"]["nextRunAt"]) for r in results} == {start}

    listed: list[str] = []
    after = None
    while True:
        page = (await api.gql(LIST, {"after": after}))["batchJobs"]
        listed += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(listed) == sorted(ids)

    worker, store = api.container.batch_worker, api.container.store
    before = await store.last_position()
    assert await worker.schedule(datetime.now(UTC)) == 0
    assert await store.last_position() == before  # an idle pass appends nothing

    due = start + timedelta(minutes=1)
    assert await worker.schedule(due) == JOBS
    assert await worker.schedule(due) == 0  # each job's run is created once
    count = await api.container.db.fetchval("SELECT COUNT(*) FROM rm_batch_runs")
    assert count == JOBS
