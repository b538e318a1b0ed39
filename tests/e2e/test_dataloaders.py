"""Every lookup by id that the items of a list make is one read-model query for the whole
list (the request's DataLoaders, app.graphql.loaders), not one per item."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from app.adapters.event_store.port import EventMeta
from app.graphql import loaders
from tests.e2e.conftest import Api, open_api
from tests.e2e.serving_helpers import PUBLISH, V1, model_with_versions
from tests.e2e.test_s3_imports import _settings
from tests.integration.s3_server import S3Server

N = 4
META = EventMeta(actor="test")

VERSIONS = f"""{{ models(first: {N}) {{ edges {{ node {{ id
  latestVersion {{ id }}
  versions(first: 2) {{ edges {{ node {{ id
    model {{ id }}
    associatedServices {{ name }}
    fileSets {{ revision }}
    optimizationJob {{ id }}
    optimizedFrom {{ id }}
    optimizations {{ id }}
  }} }} }}
}} }} }} }}"""
SERVICES = f"""{{ services(first: {N}) {{ edges {{ node {{ name
  deployments {{ version {{ id }} }}
  revisions {{ revision }}
}} }} }} }}"""
JOBS = f"""{{ batchJobs(first: {N}) {{ edges {{ node {{ id
  runs(last: 5) {{ id metrics {{ rows }} }}
}} }} }} }}"""

# The read-model function behind each loader, and a list whose items use it.
CASES = {
    "models": ("get_models", VERSIONS),
    "latest_versions": ("latest_versions", VERSIONS),
    "versions_of_models": ("list_versions_of", VERSIONS),
    "services_of_versions": ("services_using", VERSIONS),
    "file_sets": ("file_sets_of", VERSIONS),
    "optimization_jobs_of_results": ("jobs_of_results", VERSIONS),
    "optimizations_of_versions": ("optimized_versions_of", VERSIONS),
    "versions": ("get_versions", SERVICES),
    "deployments": ("deployments_of", SERVICES),
    "revisions": ("revisions_of", SERVICES),
    "runs_of_jobs": ("runs_of_jobs", JOBS),
    "run_metrics": ("latest_for_runs", JOBS),
}


@pytest.fixture
async def lists_api(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, database_url: str
) -> AsyncIterator[Api]:
    """N models of one ONNX version each, a service deploying each, a batch job of each
    with one run (not executed: nothing to count in it)."""
    async with open_api(_settings(tmp_path, s3_server, database_url)) as api:
        for i in range(N):
            _, (version_id,) = await model_with_versions(api, f"m{i}", V1)
            published = await api.gql(
                PUBLISH, {"name": f"s{i}", "versions": [{"versionId": version_id}]}
            )
            assert published["publishService"]["__typename"] == "ServiceWithKey", published
            job = await api.container.batch.create_job(
                f"j{i}",
                version_id,
                {
                    "input_uri": f"s3://{s3_bucket}/in/data.csv",
                    "input_format": "CSV",
                    "output_uri": f"s3://{s3_bucket}/out{i}",
                    "output_format": "JSONL",
                },
                {"kind": "ONCE"},
                [],
                meta=META,
            )
            await api.container.batch.trigger(str(job.id), meta=META)
        yield api


def _count(monkeypatch: pytest.MonkeyPatch, name: str) -> Counter[str]:
    calls: Counter[str] = Counter()
    fetch: Callable[..., Any] = getattr(loaders, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return await fetch(*args, **kwargs)

    monkeypatch.setattr(loaders, name, counted)
    return calls


def _items(data: dict[str, Any]) -> list[dict[str, Any]]:
    (connection,) = data.values()
    return [edge["node"] for edge in connection["edges"]]


@pytest.mark.parametrize("loader", list(CASES))
async def test_a_list_of_n_items_reads_once_per_loader(
    lists_api: Api, monkeypatch: pytest.MonkeyPatch, loader: str
) -> None:
    assert loader in loaders.Loaders.__dataclass_fields__
    function, query = CASES[loader]
    calls = _count(monkeypatch, function)
    items = _items(await lists_api.gql(query))
    assert len(items) == N
    assert calls[function] == 1, f"{loader}: {calls[function]} reads for {N} items"


async def test_the_lists_answer_what_each_item_has(lists_api: Api) -> None:
    models = _items(await lists_api.gql(VERSIONS))
    for model in models:
        (version,) = [edge["node"] for edge in model["versions"]["edges"]]
        assert model["latestVersion"] == {"id": version["id"]}
        assert version["model"] == {"id": model["id"]}
        assert len(version["associatedServices"]) == 1
        assert version["fileSets"] == [{"revision": 1}]
        assert version["optimizationJob"] is None and version["optimizations"] == []
    services = _items(await lists_api.gql(SERVICES))
    deployed = {s["deployments"][0]["version"]["id"] for s in services}
    assert len(deployed) == N
    assert all(s["revisions"] == [{"revision": 1}] for s in services)
    jobs = _items(await lists_api.gql(JOBS))
    assert all(len(job["runs"]) == 1 for job in jobs)


async def test_a_model_list_reads_latest_versions_once_only_when_asked(
    lists_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count(monkeypatch, "latest_versions")
    assert len(
        _items(await lists_api.gql(f"{{ models(first: {N}) {{ edges {{ node {{ id }} }} }} }}"))
    )
    assert calls["latest_versions"] == 0
    through_fragments = f"""{{ listed: models(first: {N}) {{ ... on ModelConnection {{
      edges {{ node {{ ...Latest }} }} }} }} }}
    fragment Latest on Model {{ id latest: latestVersion {{ id }} }}"""
    models = _items(await lists_api.gql(through_fragments))
    assert calls["latest_versions"] == 1
    by_id = {m["id"]: m for m in _items(await lists_api.gql(VERSIONS))}
    for model in models:
        assert model["latest"] is not None
        assert model["latest"] == by_id[model["id"]]["latestVersion"]
