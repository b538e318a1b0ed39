"""Model registry benchmark: modelrepo (SQLite and PostgreSQL) against MLflow's registry.

Prints figures and ratios; asserts nothing. Run from the project root:

    .venv/bin/python bench/registry.py            # full run (10k models x 10 versions)
    .venv/bin/python bench/registry.py --quick    # smoke run, about a minute
    .venv/bin/python bench/registry.py --sections reads --backends postgres  # 10k reads only

Measures, over HTTP with keep-alive clients on 127.0.0.1:
  1. create-version throughput: modelrepo ``importModelVersion`` (GraphQL) and MLflow
     ``model-versions/create`` (REST); 1 client, 8 clients on 8 models, 8 on one model;
     with the peer, both servers run at once and take turns in alternating rounds.
  2. read latency p50/p99: ``models(first: 100)`` / ``model(name)`` against MLflow's
     ``registered-models/search?max_results=100`` / ``registered-models/get``, at equal
     data sizes.
  3. ``modelrepo projections rebuild`` throughput (events/s).
  4. PostgreSQL event store appends against raw asyncpg INSERTs of the same rows.

MLflow lives in its own virtualenv (``bench/.venv-mlflow``, created when missing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import _eventstore
import _mlflow
import _modelrepo as mr
from _http import Client
from _load import CLIENT_KIND, Call, Run, client, drive, sample
from _procs import (
    Server,
    analyze,
    ensure_venv,
    fresh_database,
    postgres_cpu_seconds,
    tree_cpu_seconds,
)
from _report import CpuUse, Key, Results, ratios, read_table, store_table, table, write_table

HERE = Path(__file__).resolve().parent
WRITE_CLIENTS = 8
# writes: create-version throughput (1.); reads: seeding, rebuild and read latency (2., 3.);
# store: the event store against raw asyncpg (4.)
SECTIONS = frozenset({"writes", "reads", "store"})
ROUNDS = 5  # alternating write rounds per case (bench_writes_paired)
IN_PROCESS = "modelrepo in-process"
METHOD = """\
- Clients: one asyncio process on the same machine, one keep-alive connection each; a
  request counts when the API reports success. The HTTP client is the lean one of
  bench/_http.py (hand-written requests, httptools parsing: tens of microseconds per
  request) unless --client httpx (about 400 us per request, which a sequential client
  adds to every request of either server); both peers always get the same client.
  Servers run one uvicorn worker with their default logging: MLflow's uvicorn prints an
  access-log line per request, modelrepo prints none unless `serve --access-log`.
- Write cases with the peer: both servers run at once (each on a fresh database) and
  take turns, 5 rounds per case, modelrepo first in even rounds and MLflow first in odd
  ones; the ratio is the median of the rounds' ratios. This machine's speed can change
  by half within minutes, so figures taken minutes apart do not compare.
- CPU per version (paired write cases, Linux): the CPU time of the server's process tree
  and of every PostgreSQL process on the machine while that side's rounds ran, over the
  versions they made; the idle peer and the bench client are not in it. It is the work
  apart from the waiting: a sequential client also waits for the commit's disk flush and
  for processes to wake each other, which versions/s holds and this does not. On a slow
  stretch of this machine both sides' CPU per version grows, modelrepo's more.
- modelrepo write cases use fresh models per case; "in-process" rows call
  ModelService.import_version directly (no HTTP/GraphQL) against the same database.
- Seeds: modelrepo through its domain aggregates and event store (50 models per append),
  then its projector; MLflow as bulk rows into its own ORM tables (its REST API creates
  tens of versions per second). Both databases get VACUUM ANALYZE (SQLite: ANALYZE) after
  seeding; MLflow's search takes ~0.9 s per call on never-analyzed, bulk-loaded tables.
- The machine is shared: compare figures taken close together (see the load averages).
- MLflow runs with MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false (no job-runner processes)."""
MLFLOW_SEED_NOTE = "versions: bulk rows into MLflow's own ORM tables"

CreateModel = Callable[[Client, str], Awaitable[str]]


class VersionCall(Protocol):
    def __call__(self, targets: Sequence[str], /, *, one_model: bool) -> Call: ...


@dataclass(frozen=True)
class Config:
    backends: tuple[str, ...]
    models: int
    versions_per_model: int
    mlflow_models: int
    write_requests: int
    read_requests: int
    warmup: int
    spread_models: int
    appends: int
    batch: int
    deadline_s: float
    pg_url: str
    mlflow: bool
    venv: Path
    keep: bool
    client: str = "lean"
    sections: frozenset[str] = SECTIONS

    def sizes(self) -> list[int]:
        """Seed sizes to read at: the peer's (when smaller) and the full one."""
        if self.mlflow and self.mlflow_models < self.models:
            return [self.mlflow_models, self.models]
        return [self.models]


@dataclass
class Extra:
    """Models and versions created besides the seed (write phases), for the size columns."""

    models: int = 0
    versions: int = 0


def _write_cases(spread: int) -> list[tuple[str, int, int]]:
    """(label, clients, models)."""
    return [
        ("1 client, 1 model", 1, 1),
        (f"{WRITE_CLIENTS} clients, {spread} models", WRITE_CLIENTS, spread),
        (f"{WRITE_CLIENTS} clients, 1 model", WRITE_CLIENTS, 1),
    ]


async def _writes(
    cfg: Config,
    results: Results,
    key: tuple[str, str],
    server: Server,
    headers: dict[str, str],
    create_model: CreateModel,
    version_call: VersionCall,
) -> Extra:
    """The write cases over HTTP; every case writes to models of its own."""
    extra = Extra()
    async with client(server.base_url, headers) as http:
        for label, clients, models in _write_cases(cfg.spread_models):
            prefix = f"w-{clients}x{models}"
            targets = [await create_model(http, f"{prefix}-{i}") for i in range(models)]
            call = version_call(targets, one_model=models == 1)
            run = await drive(
                server.base_url,
                call,
                clients=clients,
                total=cfg.write_requests,
                headers=headers,
                deadline_s=cfg.deadline_s,
            )
            results.writes[Key(*key, label)] = run
            extra.models += models
            extra.versions += run.ok
            _progress(f"{key[0]}/{key[1]} write {label}: {run.rate:.1f} versions/s", run)
    return extra


async def bench_writes_paired(cfg: Config, results: Results, work: Path) -> None:
    """The create-version cases with modelrepo and MLflow both serving, in alternating
    rounds (modelrepo first in even rounds, MLflow first in odd ones), so both are measured
    at the same speed of this shared machine, which can change by half within minutes:
    the ratio reported is the median of the rounds' ratios."""
    print(f"\n# create-version, modelrepo and MLflow in {ROUNDS} alternating rounds", flush=True)
    async with (
        fresh_database(cfg.pg_url, "bench_mlflow_writes") as mlflow_url,
        _mlflow.serve(cfg.venv, mlflow_url, work, work / "logs" / "mlflow-writes.log") as peer,
    ):
        for backend in cfg.backends:
            data_dir = work / f"writes-{backend}"
            data_dir.mkdir(parents=True, exist_ok=True)
            if backend == "sqlite":
                sqlite_url = f"sqlite:///{data_dir / 'w.db'}"
                await _paired_on(cfg, results, backend, sqlite_url, peer, work)
                continue
            async with fresh_database(cfg.pg_url, "bench_modelrepo_writes") as url:
                await _paired_on(cfg, results, backend, url, peer, work)


async def _paired_on(
    cfg: Config, results: Results, backend: str, url: str, peer: Server, work: Path
) -> None:
    data_dir = work / f"writes-{backend}"
    headers = {"Authorization": f"Bearer {mr.create_token(url, data_dir)}"}
    log = work / "logs" / f"modelrepo-writes-{backend}.log"
    per_round = max(1, cfg.write_requests // ROUNDS)
    async with (
        mr.serve(url, data_dir, log) as server,
        client(server.base_url, headers) as http,
        client(peer.base_url) as peer_http,
    ):
        for label, clients, models in _write_cases(cfg.spread_models):
            prefix = f"w-{backend}-{clients}x{models}"
            ours = [await mr.import_model(http, f"{prefix}-{i}") for i in range(models)]
            theirs = [await _mlflow.create_model(peer_http, f"{prefix}-{i}") for i in range(models)]
            sides = {
                "modelrepo": (server, headers, mr.import_version_on(ours, one_model=models == 1)),
                "mlflow": (peer, {}, _mlflow.create_version_on(theirs, one_model=models == 1)),
            }
            merged = {name: Run() for name in sides}
            cpu = {name: CpuUse() for name in sides}
            round_ratios: list[float] = []
            for r in range(ROUNDS):
                rates: dict[str, float] = {}
                for name in sorted(sides, reverse=r % 2 == 1):
                    target, side_headers, call = sides[name]
                    before = _cpu_now(target)
                    run = await drive(
                        target.base_url,
                        call,
                        clients=clients,
                        total=per_round,
                        headers=side_headers,
                        deadline_s=cfg.deadline_s / ROUNDS,
                    )
                    _add_cpu(cpu[name], before, _cpu_now(target), run.ok)
                    rates[name] = run.rate
                    _merge(merged[name], run)
                round_ratios.append(rates["modelrepo"] / rates["mlflow"])
            results.writes[Key("modelrepo", backend, label)] = merged["modelrepo"]
            results.writes[Key("mlflow", "postgres", f"{label} (beside {backend})")] = merged[
                "mlflow"
            ]
            results.paired[(backend, label)] = round_ratios
            for name, use in cpu.items():
                if use.versions:
                    results.cpu[(backend, label, name)] = use
            ratios_text = ", ".join(f"{x:.2f}" for x in round_ratios)
            _progress(
                f"modelrepo/{backend} write {label}: {merged['modelrepo'].rate:.1f} versions/s;"
                f" MLflow {merged['mlflow'].rate:.1f}/s; round ratios {ratios_text}",
                merged["modelrepo"],
            )


def _cpu_now(server: Server) -> tuple[float, float] | None:
    """(server process tree, every PostgreSQL process) CPU seconds; None without /proc."""
    own, database = tree_cpu_seconds(server.proc.pid), postgres_cpu_seconds()
    if own is None:
        return None
    return own, database or 0.0


def _add_cpu(
    into: CpuUse,
    before: tuple[float, float] | None,
    after: tuple[float, float] | None,
    versions: int,
) -> None:
    """A round counts only when both readings exist (a side without them stays empty)."""
    if before is None or after is None:
        return
    into.server_s += after[0] - before[0]
    into.database_s += after[1] - before[1]
    into.versions += versions


def _merge(into: Run, run: Run) -> None:
    into.requests += run.requests
    into.ok += run.ok
    into.errors += run.errors
    into.seconds += run.seconds
    into.latencies_ms += run.latencies_ms
    into.first_error = into.first_error or run.first_error
    into.timed_out = into.timed_out or run.timed_out


async def _service_writes(
    cfg: Config, results: Results, backend: str, url: str, data_dir: Path
) -> Extra:
    extra = Extra()
    for label, clients, models in _write_cases(cfg.spread_models):
        run = await mr.service_writes(
            url,
            data_dir,
            clients=clients,
            models=models,
            total=cfg.write_requests,
            deadline_s=cfg.deadline_s,
        )
        label = label.replace("client", "caller")
        results.writes[Key(IN_PROCESS, backend, label)] = run
        extra.models += models
        extra.versions += models + run.ok  # import_model makes V1
        _progress(f"{IN_PROCESS}/{backend} {label}: {run.rate:.1f} versions/s", run)
    return extra


async def _reads(
    cfg: Config,
    results: Results,
    key: tuple[str, str],
    server: Server,
    headers: dict[str, str],
    calls: tuple[Call, Call],
    size: tuple[int, int, int],
) -> None:
    seeded, models, versions = size
    for query, call in zip(("list 100", "get by name"), calls, strict=True):
        run = await sample(
            server.base_url,
            call,
            requests=cfg.read_requests,
            warmup=cfg.warmup,
            headers=headers,
            deadline_s=cfg.deadline_s,
        )
        k = Key(*key, f"{query} @ {seeded:,} seeded models")
        results.reads[k] = run
        results.read_sizes[k] = (models, versions)
        _progress(f"{key[0]}/{key[1]} {k.case}: p50 {run.p50:.1f} ms, p99 {run.p99:.1f} ms", run)


def _setup(results: Results, system: str, step: str, items: int, s: float, note: str) -> None:
    results.setup_rows.append([system, step, items, s, items / s if s > 0 else 0.0, note])


def _names(size: int) -> list[str]:
    picks = random.Random(20240601).sample(range(size), k=min(size, 2000))
    return [mr.seed_name(i) for i in picks]


def _progress(message: str, run: Run) -> None:
    suffix = f"  [{run.errors} errors; first: {run.first_error[:200]}]" if run.errors else ""
    suffix += "  [TIMED OUT]" if run.timed_out else ""
    print(f"  .. {message}{suffix}", flush=True)


async def bench_modelrepo(cfg: Config, results: Results, backend: str, work: Path) -> None:
    print(f"\n# modelrepo on {backend} (load avg {_load()})", flush=True)
    data_dir = work / f"modelrepo-{backend}"
    data_dir.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        await _modelrepo_on(cfg, results, backend, f"sqlite:///{data_dir / 'bench.db'}", work)
    else:
        async with fresh_database(cfg.pg_url, "bench_modelrepo") as url:
            await _modelrepo_on(cfg, results, backend, url, work)


async def _modelrepo_on(cfg: Config, results: Results, backend: str, url: str, work: Path) -> None:
    data_dir = work / f"modelrepo-{backend}"
    log = work / "logs" / f"modelrepo-{backend}.log"
    system = f"modelrepo/{backend}"
    headers = {"Authorization": f"Bearer {mr.create_token(url, data_dir)}"}
    extra = Extra()
    # (with the peer, the writes ran paired with its: bench_writes_paired)
    if not cfg.mlflow and "writes" in cfg.sections:
        async with mr.serve(url, data_dir, log) as server:
            key = ("modelrepo", backend)
            extra = await _writes(
                cfg, results, key, server, headers, mr.import_model, mr.import_version_on
            )
    if "writes" in cfg.sections:
        more = await _service_writes(cfg, results, backend, url, data_dir)
        extra = Extra(extra.models + more.models, extra.versions + more.versions)
    if "reads" not in cfg.sections:
        return
    seeded = 0
    for size in cfg.sizes():
        s = await mr.seed(url, data_dir, seeded, size, cfg.versions_per_model)
        seeded = size
        step = f"seed +{s.models:,} models"
        _setup(results, system, step, s.events, s.append_s, "events, many models per append")
        _setup(results, system, "projection catch-up", s.events, s.project_s, "in-process")
        if size == cfg.models:
            events = await mr.count_events(url, data_dir)
            seconds, output = mr.rebuild_cli(url, data_dir)
            _setup(results, system, "projections rebuild (CLI)", events, seconds, output)
            print(f"  .. {backend} rebuild: {events / seconds:,.0f} events/s ({output})")
        await analyze(url)
        # Each write-phase model got a V1 with importModel.
        versions = size * cfg.versions_per_model + extra.versions + extra.models
        async with mr.serve(url, data_dir, log) as server:
            calls = (mr.list_models, mr.model_by_name(_names(size)))
            sized = (size, size + extra.models, versions)
            await _reads(cfg, results, ("modelrepo", backend), server, headers, calls, sized)


async def bench_mlflow(cfg: Config, results: Results, work: Path) -> None:
    version = _mlflow.peer_version(cfg.venv)
    print(f"\n# MLflow {version} on postgres (load avg {_load()})", flush=True)
    async with (
        fresh_database(cfg.pg_url, "bench_mlflow") as url,
        _mlflow.serve(cfg.venv, url, work, work / "logs" / "mlflow.log") as server,
    ):
        key = ("mlflow", "postgres")
        seeded = 0
        for size in cfg.sizes():
            if size > cfg.mlflow_models:
                break
            seconds = _mlflow.seed(cfg.venv, url, seeded, size, cfg.versions_per_model)
            versions = (size - seeded) * cfg.versions_per_model
            step = f"seed +{size - seeded:,} models"
            _setup(results, "mlflow/postgres", step, versions, seconds, MLFLOW_SEED_NOTE)
            seeded = size
            await analyze(url)
            calls = (_mlflow.search_models, _mlflow.get_model(_names(size)))
            sized = (size, size, size * cfg.versions_per_model)
            await _reads(cfg, results, key, server, {}, calls, sized)


async def bench_event_store(cfg: Config, results: Results) -> None:
    print("\n# event store appends vs raw asyncpg (postgres)", flush=True)
    async with fresh_database(cfg.pg_url, "bench_eventstore") as url:
        results.store_rows = await _eventstore.run(url, appends=cfg.appends, batch=cfg.batch)


def _describe(cfg: Config) -> str:
    rev = subprocess.run(
        ["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    lines = [
        f"machine    {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        f"python     {sys.version.split()[0]}; modelrepo {rev or '?'}",
        f"seed       {cfg.models:,} models x {cfg.versions_per_model} versions"
        f" (MLflow: {cfg.mlflow_models:,} models)",
        f"requests   {cfg.write_requests} per write case; {cfg.read_requests} per read case"
        f" after {cfg.warmup} warm-up",
        f"load avg   {_load()} at start",
    ]
    return "\n".join(lines)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def main(cfg: Config) -> None:
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="modelrepo-bench-"))
    results = Results()
    CLIENT_KIND[0] = cfg.client
    try:
        print(_describe(cfg), flush=True)
        print(f"HTTP client: {cfg.client}", flush=True)
        if cfg.mlflow and "writes" in cfg.sections:
            await bench_writes_paired(cfg, results, work)
        for backend in cfg.backends:
            await bench_modelrepo(cfg, results, backend, work)
        if cfg.mlflow and "reads" in cfg.sections:
            await bench_mlflow(cfg, results, work)
        if "postgres" in cfg.backends and "store" in cfg.sections:
            await bench_event_store(cfg, results)
    finally:
        if cfg.keep:
            print(f"\nkept {work} (server logs under logs/)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\n== how ==")
    print(METHOD)
    print("\n== create-version throughput (HTTP, keep-alive clients) ==")
    print(write_table(results))
    print("\n== read latency (one sequential client) ==")
    print(read_table(results))
    print("\n== seeding and projections ==")
    heads = ["system", "step", "items", "s", "items/s", "note"]
    print(table(heads, results.setup_rows))
    if results.store_rows:
        print("\n== PostgreSQL event store vs raw asyncpg INSERT (same rows) ==")
        print(store_table(results))
    print("\n== ratios ==")
    print(ratios(results))
    print(f"\ntotal {time.monotonic() - began:,.0f} s; load avg {_load()} at the end")


def parse(argv: Sequence[str] | None = None) -> Config:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--backends", default="sqlite,postgres", help="comma list: sqlite,postgres")
    p.add_argument("--models", type=int, help="seeded models (default 10000; quick 300)")
    p.add_argument("--versions-per-model", type=int, help="default 10; quick 3")
    p.add_argument("--mlflow-models", type=int, help="peer seed size (default: --models)")
    p.add_argument("--write-requests", type=int, help="per write case (default 1000)")
    p.add_argument("--read-requests", type=int, help="per read case (default 500)")
    p.add_argument("--spread-models", type=int, default=WRITE_CLIENTS)
    p.add_argument("--appends", type=int, help="event store appends per case (default 3000)")
    p.add_argument("--batch", type=int, default=100, help="events per batch append")
    p.add_argument("--deadline", type=float, default=180.0, help="seconds per load phase")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--no-mlflow", action="store_true", help="skip the peer")
    p.add_argument("--mlflow-venv", type=Path, default=HERE / ".venv-mlflow")
    p.add_argument("--keep", action="store_true", help="keep the work dir and server logs")
    p.add_argument("--client", choices=["lean", "httpx"], default="lean", help="see _http.py")
    p.add_argument(
        "--sections",
        default=",".join(sorted(SECTIONS)),
        help="comma list of what to run: writes (1.), reads (2. and 3.), store (4.)",
    )
    a = p.parse_args(argv)
    sections = frozenset(x.strip() for x in a.sections.split(",") if x.strip())
    if not sections or sections - SECTIONS:
        p.error(f"--sections takes a comma list of {', '.join(sorted(SECTIONS))}")
    quick = bool(a.quick)
    models = a.models or (300 if quick else 10_000)
    backends = tuple(b.strip() for b in a.backends.split(",") if b.strip())
    if set(backends) - {"sqlite", "postgres"}:
        p.error(f"unknown backend in {a.backends!r}")
    return Config(
        backends=backends,
        models=models,
        versions_per_model=a.versions_per_model or (3 if quick else 10),
        mlflow_models=min(models, a.mlflow_models or models),
        write_requests=a.write_requests or (100 if quick else 1000),
        read_requests=a.read_requests or (50 if quick else 500),
        warmup=5 if quick else 20,
        spread_models=a.spread_models,
        appends=a.appends or (400 if quick else 3000),
        batch=a.batch,
        deadline_s=a.deadline,
        pg_url=a.pg_url,
        mlflow=not a.no_mlflow,
        venv=a.mlflow_venv,
        keep=bool(a.keep),
        client=a.client,
        sections=sections,
    )


if __name__ == "__main__":
    config = parse()
    if config.mlflow:
        ensure_venv(config.venv)
    asyncio.run(main(config))
