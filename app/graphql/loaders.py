"""The DataLoaders of one request: every lookup by id that the items of a list make (a
version's services, a result's optimization job, a model's versions, ...) is batched into
one read-model query per list, and cached for the rest of the request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from strawberry.dataloader import DataLoader

from app.adapters.sql.port import Database
from app.monitoring.batch import RunMetrics, latest_for_runs
from projections.batch import RunRow, runs_of_jobs
from projections.models import ModelRow, get_models
from projections.optimizations import JobRow, jobs_of_results, optimized_versions_of
from projections.services import (
    DeploymentRow,
    RevisionRow,
    ServiceRow,
    deployments_of,
    revisions_of,
    services_using,
)
from projections.versions import (
    FileSetRow,
    VersionRow,
    file_sets_of,
    get_versions,
    latest_versions,
    list_versions_of,
)

# Not memoized (cache=False): the serial mutations of one document each read what the
# ones before them changed. What the items of one list ask for is still one query.
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

VersionPage = tuple[list[VersionRow], bool]
"""A page of versions, newest first, and whether more follow."""


@dataclass(frozen=True, slots=True)
class PageKey:
    """Whose page, and which: (first, after) as the field was asked for."""

    owner: str
    first: int
    after: int | None = None


@dataclass
class Loaders:
    models: DataLoader[str, ModelRow | None]
    versions: DataLoader[str, VersionRow | None]
    latest_versions: DataLoader[str, VersionRow | None]
    versions_of_models: DataLoader[PageKey, VersionPage]
    file_sets: DataLoader[str, list[FileSetRow]]
    services_of_versions: DataLoader[str, list[ServiceRow]]
    optimization_jobs_of_results: DataLoader[str, JobRow | None]
    optimizations_of_versions: DataLoader[str, list[str]]
    deployments: DataLoader[str, list[DeploymentRow]]
    revisions: DataLoader[str, list[RevisionRow]]
    runs_of_jobs: DataLoader[PageKey, list[RunRow]]
    run_metrics: DataLoader[str, RunMetrics | None]


def _by_key(fetch: Callable[[list[K]], Awaitable[Mapping[K, V]]], missing: V) -> DataLoader[K, V]:
    async def load(keys: list[K]) -> list[V]:
        found = await fetch(list(dict.fromkeys(keys)))
        return [found.get(key, missing) for key in keys]

    return DataLoader(load_fn=load, cache=False)


def _pages(
    fetch: Callable[[list[str], int, int | None], Awaitable[Mapping[str, V]]],
) -> DataLoader[PageKey, V]:
    """Pages of several owners, one query per (first, after) asked for (the items of a
    list ask for the same one)."""

    async def load(keys: list[PageKey]) -> list[V]:
        asked: dict[tuple[int, int | None], list[str]] = {}
        for key in dict.fromkeys(keys):
            asked.setdefault((key.first, key.after), []).append(key.owner)
        found: dict[PageKey, V] = {}
        for (first, after), owners in asked.items():
            for owner, page in (await fetch(owners, first, after)).items():
                found[PageKey(owner, first, after)] = page
        return [found[key] for key in keys]

    return DataLoader(load_fn=load, cache=False)


def make_loaders(db: Database) -> Loaders:
    async def versions_of_models(
        ids: list[str], first: int, after: int | None
    ) -> Mapping[str, VersionPage]:
        return await list_versions_of(db, ids, first=first, after=after)

    async def runs(ids: list[str], last: int, _after: int | None) -> Mapping[str, list[RunRow]]:
        return await runs_of_jobs(db, ids, limit=last)

    return Loaders(
        models=_by_key(lambda ids: get_models(db, ids), None),
        versions=_by_key(lambda ids: get_versions(db, ids), None),
        latest_versions=_by_key(lambda ids: latest_versions(db, ids), None),
        versions_of_models=_pages(versions_of_models),
        file_sets=_by_key(lambda ids: file_sets_of(db, ids), []),
        services_of_versions=_by_key(lambda ids: services_using(db, ids), []),
        optimization_jobs_of_results=_by_key(lambda ids: jobs_of_results(db, ids), None),
        optimizations_of_versions=_by_key(lambda ids: optimized_versions_of(db, ids), []),
        deployments=_by_key(lambda ids: deployments_of(db, ids), []),
        revisions=_by_key(lambda ids: revisions_of(db, ids), []),
        runs_of_jobs=_pages(runs),
        run_metrics=_by_key(lambda ids: latest_for_runs(db, ids), None),
    )
