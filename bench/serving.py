"""Serving benchmark: modelrepo's predict endpoint against ``mlflow models serve`` and a
bare Starlette + onnxruntime endpoint, on one small ONNX model (4 features, 3 classes).

Prints figures and ratios; asserts nothing. Run from the project root:

    .venv/bin/python bench/serving.py               # 15 s per load run
    .venv/bin/python bench/serving.py --quick       # 3 s per run, fewer large calls
    .venv/bin/python bench/serving.py --no-mlflow   # without the MLflow peer
    .venv/bin/python bench/serving.py --profile     # + py-spy of modelrepo at 16 clients
    .venv/bin/python bench/serving.py --monitoring off      # every modelrepo run without it
    .venv/bin/python bench/serving.py --monitoring compare  # only: monitoring on vs off
    .venv/bin/python bench/serving.py --sandbox compare     # only: custom runtime, sandbox

Measures, over HTTP/1.1 keep-alive connections on 127.0.0.1:
  1. single-row requests at 1 and 16 clients: requests/s, p50, p99 — modelrepo with
     server-side batching as shipped (64 rows, no wait: batches grow while a run is on),
     without batching (MODELREPO_MAX_BATCH_SIZE=1) and batching with a 2 ms wait for
     company (MODELREPO_MAX_BATCH_WAIT_MS=2); the bare endpoint (one uvicorn worker);
     ``mlflow models serve`` (one worker, sklearn flavour);
  2. one 1,000-row request at a time through each server, against onnxruntime in-process;
  3. the keep-alive stall check (uvicorn issue 3149): sequential requests on one
     connection, p50 and the share over 35 ms, including the bare endpoint under
     ``uvicorn --workers 2`` (uvloop, the default with uvicorn[standard]; and asyncio);
  4. what each step of modelrepo's predict path costs, timed in-process.

``--monitoring on|off`` runs every modelrepo server with MODELREPO_MONITORING on (as
shipped) or off; ``--monitoring compare`` runs only the comparison of predict throughput
with monitoring on against off (``--rounds`` alternating restarts, medians; target >= 0.95).

``--sandbox compare`` runs only a custom-runtime model (user code, ``model_service.py``):
predict throughput with its worker in the bubblewrap sandbox against
MODELREPO_UNSAFE_USER_CODE=true (``--rounds`` alternating restarts, medians; target >= 0.9),
and the worker's start time both ways (publish until RUNNING; ``--starts`` in-process loads).

``--client wrk`` drives the load runs with wrk (apt-get install wrk) instead of the
built-in client; the 1,000-row runs always use the built-in one.

MLflow, and scikit-learn and skl2onnx (to build the model), live in bench/.venv-mlflow
(created when missing); the project's virtualenv holds only its lock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _serving_model as model
import _serving_monitoring as monitoring
import _serving_mr as mr
import _serving_peers as peers
import _serving_profile as profile
import _serving_report as report
import _serving_sandbox as sandbox
from _procs import Server
from _serving_load import Measured, measure
from _serving_local import commit, in_process, versions
from _serving_steps import steps

METHOD = """\
- Load: {client}, in its own process.
  Each client is one keep-alive HTTP/1.1 connection sending the next request when the
  previous answer has arrived (closed loop), for a fixed time after an unrecorded warm-up.
- Same request everywhere: {{"instances": [[5.1, 3.5, 1.4, 0.2]]}}. modelrepo and the bare
  endpoint answer label + probabilities; MLflow's sklearn pyfunc answers the label only.
- Servers: one process each, one uvicorn worker, access logs as shipped (modelrepo: off;
  bare: off; MLflow: on, INFO line per request). The bare endpoint runs session.run
  inline; so does modelrepo for a model this small (its ONNX runtime runs a model inline
  when probe runs at load show it costs less than the hand-off to its thread).
- server CPU / client CPU: CPU time over wall time of the run (100% = one core; 2 cores).
- modelrepo runs on SQLite under a temporary data dir; its variants are restarts of one
  server on the same data (the published service is loaded again at start)."""


@dataclass(frozen=True)
class Config:
    seconds: float
    warmup: float
    clients: tuple[int, ...]
    large_calls: int
    step_calls: int
    stall_seconds: float
    mlflow: bool
    profile: bool
    client: str
    keep: bool
    monitoring: str = "on"
    rounds: int = 3
    sandbox: bool = False
    starts: int = 10


class Bench:
    def __init__(self, cfg: Config, work: Path) -> None:
        self.cfg = cfg
        self.work = work
        self.logs = work / "logs"
        self.fig = report.Figures()
        self.one = work / "one.json"
        self.one.write_bytes(model.body([model.SINGLE_ROW]))
        self.thousand = work / "thousand.json"
        self.thousand.write_bytes(model.body(model.rows(1000)))

    async def load(
        self, server: Server, path: str, headers: tuple[str, ...], clients: int, seconds: float
    ) -> Measured:
        async def run(span: float) -> Measured:
            return await measure(
                server, path, self.one, connections=clients, seconds=span, headers=headers,
                client=self.cfg.client,
            )  # fmt: skip

        if self.cfg.warmup > 0:
            await run(self.cfg.warmup)
        return await run(seconds)

    async def single(
        self, system: str, server: Server, path: str, headers: tuple[str, ...]
    ) -> None:
        for clients in self.cfg.clients:
            m = await self.load(server, path, headers, clients, self.cfg.seconds)
            self.fig.single[(system, clients)] = m
            r = m.result
            print(
                f"  {system:<28} c={clients:<3} {r.rate:8,.0f} req/s  p50 {r.p50_ms:6.2f} ms"
                f"  p99 {r.p99_ms:6.2f} ms  errors {r.errors}  {r.first_error[:120]}",
                flush=True,
            )
            if clients == 1:
                self.fig.stall[system] = m

    async def large(self, system: str, server: Server, path: str, headers: tuple[str, ...]) -> None:
        # Always the Python client: it times each call exactly, whatever --client says.
        big = self.thousand
        await measure(server, path, big, connections=1, seconds=5, headers=headers, max_requests=3)
        self.fig.large[system] = await measure(
            server,
            path,
            big,
            connections=1,
            seconds=max(10.0, self.cfg.seconds),
            headers=headers,
            max_requests=self.cfg.large_calls,
        )

    async def profiled(
        self, system: str, server: Server, path: str, headers: tuple[str, ...]
    ) -> None:
        """An extra run at the highest concurrency with py-spy attached (not reported)."""
        clients = max(self.cfg.clients)
        raw = self.logs / f"py-spy-{len(self.fig.profiles)}.txt"
        spy = await profile.start(server.proc.pid, self.cfg.seconds, raw)
        m = await self.load(server, path, headers, clients, self.cfg.seconds)
        await spy.wait()
        head = f"{system}, {clients} clients, {m.result.rate:,.0f} req/s while profiled"
        self.fig.profiles[head] = profile.summary(raw)

    async def run_bare(self, files: model.ModelFiles) -> None:
        print("bare endpoint (starlette + onnxruntime, 1 uvicorn worker) ...", flush=True)
        async with peers.bare(files.onnx, self.logs / "bare.log") as server:
            await self.single(report.BARE, server, "/predict", ())
            await self.large(report.BARE, server, "/predict", ())
        for system, loop in ((report.BARE_2, "auto"), (report.BARE_2_ASYNCIO, "asyncio")):
            print(f"{system} (stall check) ...", flush=True)
            log = self.logs / f"bare-2-{loop}.log"
            async with peers.bare(files.onnx, log, workers=2, loop=loop) as server:
                m = await self.load(server, "/predict", (), 1, self.cfg.stall_seconds)
                self.fig.stall[system] = m

    async def run_modelrepo(self, files: model.ModelFiles) -> None:
        data = self.work / "modelrepo-data"
        watched = self.cfg.monitoring != "off"
        env = mr.env_for(data, max_batch_size=64, monitoring=watched)
        token = await asyncio.to_thread(mr.create_token, env)
        print("modelrepo with batching (MODELREPO_MAX_BATCH_SIZE=64) ...", flush=True)
        async with mr.serve(env, self.logs / "modelrepo-batching.log") as server:
            started = time.perf_counter()
            version = await asyncio.to_thread(
                mr.import_onnx, server.base_url, token, files.onnx, "iris"
            )
            service = await mr.publish(server.base_url, token, "iris", version)
            answer = await mr.wait_serving(server.base_url, service, self.one.read_bytes())
            self.fig.notes.append(
                f"modelrepo: import + publish until RUNNING {time.perf_counter() - started:.1f} s;"
                f" answer {answer}"
            )
            path, headers = f"/v1/models/{service.name}:predict", (f"Authorization: {service.key}",)
            await self.single(report.MR_BATCH, server, path, headers)
            await self.large(report.MR_BATCH, server, path, headers)
            if self.cfg.profile:
                await self.profiled(report.MR_BATCH, server, path, headers)
        # The same data directory: the restarted server loads the published service again.
        variants = (
            (
                report.MR_SINGLE,
                "MODELREPO_MAX_BATCH_SIZE=1",
                mr.env_for(data, max_batch_size=1, monitoring=watched),
            ),
            (
                report.MR_WAIT,
                "MODELREPO_MAX_BATCH_WAIT_MS=2",
                mr.env_for(data, max_batch_size=64, max_wait_ms=2, monitoring=watched),
            ),
        )
        for system, setting, variant in variants:
            print(f"{system} ({setting}) ...", flush=True)
            log = self.logs / f"modelrepo-{len(self.fig.large)}.log"
            async with mr.serve(variant, log) as server:
                await mr.wait_serving(server.base_url, service, self.one.read_bytes())
                await self.single(system, server, path, headers)
                await self.large(system, server, path, headers)
                if self.cfg.profile:
                    await self.profiled(system, server, path, headers)

    async def run_mlflow(self, files: model.ModelFiles) -> None:
        print("mlflow models serve (sklearn flavour, 1 worker) ...", flush=True)
        info = await asyncio.to_thread(peers.prepare_mlflow, files, self.work / "mlflow-model")
        self.fig.notes.append(
            f"MLflow {info['mlflow']}, scikit-learn {info['sklearn']} in bench/.venv-mlflow;"
            f" its pyfunc labels agree with the pickled model on {info['agree']:.0%} of rows"
        )
        async with peers.mlflow(self.work / "mlflow-model", self.logs / "mlflow.log") as server:
            await self.single(report.MLFLOW, server, "/invocations", ())
            await self.large(report.MLFLOW, server, "/invocations", ())


async def main_async(cfg: Config) -> None:
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    print(f"# serving benchmark — {time.strftime('%Y-%m-%d %H:%M:%S')}")
    python = platform.python_version()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python {python}")
    print(f"modelrepo commit: {commit()}; versions: {versions()}")
    print(f"work dir: {work}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n", flush=True)
    bench = Bench(cfg, work)
    if cfg.monitoring == "compare" or cfg.sandbox:
        try:
            if cfg.sandbox:
                load = sandbox.Load(bench.one, cfg.clients, cfg.seconds, cfg.warmup, cfg.client)
                await sandbox.run(work, load, cfg.rounds, cfg.starts)
            else:
                await compare_monitoring(bench, model.build(work / "model"))
        finally:
            if not cfg.keep:
                shutil.rmtree(work, ignore_errors=True)
        print(f"\ntotal time: {time.perf_counter() - began:.0f} s")
        return
    try:
        files = model.build(work / "model")
        await bench.run_bare(files)
        await bench.run_modelrepo(files)
        if cfg.mlflow:
            await bench.run_mlflow(files)
        bench.fig.in_process = in_process(files, bench.thousand, cfg.large_calls)
        bench.fig.steps = await asyncio.to_thread(steps, files, cfg.step_calls)
    finally:
        if not cfg.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_report(bench.fig, cfg)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"total time: {time.perf_counter() - began:.0f} s")


async def compare_monitoring(bench: Bench, files: model.ModelFiles) -> None:
    cfg = bench.cfg
    print(f"modelrepo, monitoring on against off ({cfg.rounds} rounds) ...", flush=True)
    rates = await monitoring.compare(
        bench.work,
        files.onnx,
        bench.one.read_bytes(),
        bench.load,
        cfg.clients,
        cfg.seconds,
        cfg.rounds,
    )
    print(f"\n## Predict throughput, monitoring on / off, {cfg.seconds:g} s per run\n")
    print(monitoring.__doc__.split("\n\n")[1].replace("\n", " ") if monitoring.__doc__ else "")
    print()
    print(monitoring.table(rates, cfg.clients))
    cost = monitoring.record_cost()
    print(f"\nrecording one request, timed in-process: {cost:.2f} µs per call")


def print_report(fig: report.Figures, cfg: Config) -> None:
    client = (
        "wrk -t1 (Debian; percentiles corrected for coordinated omission by wrk)"
        if cfg.client == "wrk"
        else "bench/_serving_client.py (asyncio protocol on uvloop; exact per-request latencies)"
    )
    print("\n## Method\n" + METHOD.format(client=client))
    print(f"\n## Single-row predict, {cfg.seconds:g} s per run\n")
    print(report.single_table(fig))
    print("\n## Ratios (requests/s)\n")
    print(report.ratios(fig, cfg.clients))
    print("\nthe peers now against the figures measured on this machine earlier:")
    print(report.reference_table(fig, cfg.clients))
    print("\n## One 1,000-row request at a time (sequential, one connection)\n")
    print(report.large_table(fig))
    print("\n## Keep-alive stall check (uvicorn issue 3149): 1 client, sequential\n")
    print(report.stall_table(fig))
    print("\n## Where modelrepo's time goes: its predict path's steps, timed in-process\n")
    print(report.steps_table(fig))
    for head, text in fig.profiles.items():
        print(f"\n## py-spy: {head}\n\n{text}")
    if fig.notes:
        print("\n## Notes\n" + "\n".join(f"- {note}" for note in fig.notes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per load run (default 15)")
    parser.add_argument("--quick", action="store_true", help="3 s runs, fewer large calls")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the MLflow peer")
    parser.add_argument("--profile", action="store_true", help="py-spy modelrepo at 16 clients")
    parser.add_argument("--client", choices=("python", "wrk"), default="python")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and logs")
    parser.add_argument(
        "--monitoring",
        choices=("on", "off", "compare"),
        default="on",
        help="MODELREPO_MONITORING for modelrepo (default on); compare: only on vs off",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the compare modes")
    parser.add_argument(
        "--sandbox",
        choices=("compare",),
        help="only a custom-runtime model: sandboxed against MODELREPO_UNSAFE_USER_CODE=true",
    )
    parser.add_argument("--starts", type=int, default=10, help="worker starts, --sandbox")
    args = parser.parse_args()
    if args.client == "wrk" and shutil.which("wrk") is None:
        parser.error("--client wrk needs wrk on PATH (apt-get install wrk)")
    seconds = 3.0 if args.quick else args.seconds
    cfg = Config(
        seconds=seconds,
        warmup=0.5 if args.quick else 1.0,
        clients=(1, 16),
        large_calls=30 if args.quick else 200,
        step_calls=2_000 if args.quick else 20_000,
        stall_seconds=min(seconds, 5.0),
        mlflow=not args.no_mlflow,
        profile=args.profile,
        client=args.client,
        keep=args.keep,
        monitoring=args.monitoring,
        rounds=max(1, args.rounds),
        sandbox=args.sandbox == "compare",
        starts=max(1, args.starts),
    )
    asyncio.run(main_async(cfg))


if __name__ == "__main__":
    main()
