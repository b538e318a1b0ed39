"""A custom-runtime model with its user code in the bubblewrap sandbox (as shipped) against
MODELREPO_UNSAFE_USER_CODE=true (no sandbox: how it ran before issue 18).

The model is a package of user code: ``model_service.py`` (a numpy linear classifier on 4
features, its weights read from ``weights.npz`` at load), ``config.json`` and a dummy
``weights.pt``, imported as format PYTORCH and published through the API. One data
directory; the server is restarted with each setting alternately for several rounds (the
order flips every round so drift on a shared machine hits both sides alike) and each
side's median is compared. Every round also publishes a second service on the same
version and times it from the publish mutation until RUNNING (polled every 10 ms), then
deletes it. Worker start is also timed in-process: ``CustomRuntime.load`` (the worker
process, Python and numpy imports, ``model_service.py`` and its weights) and the first
predict, with ``Sandbox(unsafe=True)`` and ``Sandbox()`` alternately.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import _serving_mr as mr
import numpy as np
from _procs import Server, tree_cpu_seconds
from _serving_load import Measured, measure
from _serving_model import CENTRES, SINGLE_ROW, dataset

from app.sandbox import Sandbox
from app.serving.runtimes.base import RuntimeOptions
from app.serving.runtimes.custom import CustomRuntime

UNSAFE, SANDBOX = "unsafe (before)", "sandbox (after)"
SIDES = (UNSAFE, SANDBOX)
TARGET = 0.90  # sandbox / unsafe requests/s: within 10%
Samples = dict[tuple[str, str], list[float]]  # (side, figure) -> one value per round/start

MODEL_SERVICE = textwrap.dedent(
    """
    import numpy as np

    class LinearClassifier:
        def load(self, model_dir):
            with np.load(f"{model_dir}/weights.npz") as weights:
                self.coef, self.intercept = weights["coef"], weights["intercept"]

        def predict(self, data):
            scores = data["features"] @ self.coef + self.intercept
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            probabilities = scores / scores.sum(axis=1, keepdims=True)
            return {"label": scores.argmax(axis=1), "probabilities": probabilities}
    """
)
CONFIG = {
    "inputs": [{"name": "features", "type": "float32", "shape": [-1, 4]}],
    "outputs": [
        {"name": "label", "type": "int64", "shape": [-1]},
        {"name": "probabilities", "type": "float32", "shape": [-1, len(CENTRES)]},
    ],
}


def build_package(directory: Path) -> Path:
    """The package folder: least-squares weights on the benchmark's iris-like rows."""
    directory.mkdir(parents=True, exist_ok=True)
    x, y = dataset()
    design = np.hstack([x, np.ones((len(x), 1), dtype=np.float32)])
    onehot = np.eye(len(CENTRES), dtype=np.float32)[y]
    solution = np.linalg.lstsq(design, onehot, rcond=None)[0].astype(np.float32)
    np.savez(directory / "weights.npz", coef=solution[:-1], intercept=solution[-1])
    (directory / "model_service.py").write_text(MODEL_SERVICE)
    (directory / "config.json").write_text(json.dumps(CONFIG, indent=2))
    (directory / "weights.pt").write_bytes(b"PK\x05\x06" + bytes(18))  # the format's file
    return directory


@dataclass(frozen=True)
class Load:
    """How each load run goes: the request body file, clients, seconds, warm-up, client."""

    body_file: Path
    clients: tuple[int, ...]
    seconds: float
    warmup: float
    client: str

    async def run(
        self, server: Server, path: str, headers: tuple[str, ...], clients: int
    ) -> tuple[Measured, float]:
        """One measured run after a warm-up, and the CPU milliseconds per answered request
        of the server and every process under it (the worker, in a session of its own)."""

        async def once(seconds: float) -> Measured:
            return await measure(
                server, path, self.body_file, connections=clients, seconds=seconds,
                headers=headers, client=self.client,
            )  # fmt: skip

        if self.warmup > 0:
            await once(self.warmup)
        before = tree_cpu_seconds(server.proc.pid) or 0.0
        m = await once(self.seconds)
        spent = (tree_cpu_seconds(server.proc.pid) or 0.0) - before
        return m, spent / m.result.ok * 1000 if m.result.ok else float("nan")


def _env(data: Path, side: str) -> dict[str, str]:
    env = mr.env_for(data, max_batch_size=64, max_wait_ms=0)
    return env | {"MODELREPO_UNSAFE_USER_CODE": "true" if side == UNSAFE else "false"}


async def compare(
    work: Path,
    package: Path,
    load: Load,
    rounds: int,
) -> Samples:
    """Requests/s, p50 and p99 per (side, "c=N ..."), and "publish -> RUNNING" seconds."""
    data, logs = work / "sandbox-data", work / "logs"
    body = load.body_file.read_bytes()
    token = await asyncio.to_thread(mr.create_token, _env(data, SANDBOX))
    async with mr.serve(_env(data, SANDBOX), logs / "sandbox-setup.log") as server:
        version = await asyncio.to_thread(
            mr.import_files, server.base_url, token, package, "linear", "PYTORCH"
        )
        service = await mr.publish(server.base_url, token, "linear", version)
        answer = await mr.wait_serving(server.base_url, service, body)
        print(f"  published {service.name} (custom runtime); answer {answer}", flush=True)
    path, headers = f"/v1/models/{service.name}:predict", (f"Authorization: {service.key}",)
    samples: Samples = {}
    for number in range(rounds):
        for side in SIDES if number % 2 == 0 else SIDES[::-1]:
            log = logs / f"sandbox-{number}-{side.split()[0]}.log"
            async with mr.serve(_env(data, side), log) as server:
                await mr.wait_serving(server.base_url, service, body)
                started = time.perf_counter()
                extra = await mr.publish(
                    server.base_url, token, f"linear-{number}-{side.split()[0]}", version, poll=0.01
                )
                running = time.perf_counter() - started
                await mr.delete_service(server.base_url, token, extra.service_id)
                samples.setdefault((side, "publish -> RUNNING s"), []).append(running)
                print(f"  round {number + 1} {side:<16} publish -> RUNNING {running:.3f} s")
                for count in load.clients:
                    m, cpu = await load.run(server, path, headers, count)
                    r = m.result
                    for figure, value in (
                        ("req/s", r.rate),
                        ("p50", r.p50_ms),
                        ("p99", r.p99_ms),
                        ("CPU ms/req", cpu),
                    ):
                        samples.setdefault((side, f"c={count} {figure}"), []).append(value)
                    print(
                        f"  round {number + 1} {side:<16} c={count:<3} {r.rate:8,.0f} req/s"
                        f"  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms"
                        f"  CPU {cpu:.2f} ms/req  errors {r.errors}  {r.first_error[:120]}",
                        flush=True,
                    )
    return samples


async def _start_once(package: Path, sandbox: Sandbox, calls: int) -> tuple[float, float, float]:
    """Seconds of ``load``, of the first predict, and microseconds per later predict."""
    runtime = CustomRuntime(package, RuntimeOptions(sandbox=sandbox))
    batch = {"features": np.asarray([SINGLE_ROW], dtype=np.float32)}
    try:
        started = time.perf_counter()
        await runtime.load()
        loaded = time.perf_counter()
        await runtime.predict(batch)
        first = time.perf_counter()
        for _ in range(calls):
            await runtime.predict(batch)
        per_call = (time.perf_counter() - first) / max(1, calls) * 1e6
    finally:
        await runtime.unload()
    return loaded - started, first - loaded, per_call


async def worker_starts(package: Path, starts: int, calls: int = 1_000) -> Samples:
    """In-process worker starts, unsafe and sandboxed alternately, on a copy of the
    package (the sandbox makes it readable by its uid, as the model cache's copy is)."""
    samples: Samples = {}
    scratch = Path(tempfile.mkdtemp(prefix="bench-sandbox-pkg-"))
    try:
        copy = Path(shutil.copytree(package, scratch / "package"))
        sandboxes = {UNSAFE: Sandbox(unsafe=True), SANDBOX: Sandbox()}
        for number in range(starts):
            for side in SIDES if number % 2 == 0 else SIDES[::-1]:
                load, first, per_call = await _start_once(copy, sandboxes[side], calls)
                samples.setdefault((side, "load s"), []).append(load)
                samples.setdefault((side, "first predict ms"), []).append(first * 1000)
                samples.setdefault((side, "predict us"), []).append(per_call)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return samples


def _row(samples: Samples, figure: str, unit: str, target: float | None = None) -> str:
    before = statistics.median(samples[(UNSAFE, figure)])
    after = statistics.median(samples[(SANDBOX, figure)])
    ratio = after / before if before else float("nan")
    verdict = ""
    if target is not None:
        verdict = f">= {target:g} {'met' if ratio >= target else 'MISSED'}"
    spread = ", ".join(
        f"{min(samples[(s, figure)]):{unit}}-{max(samples[(s, figure)]):{unit}}" for s in SIDES
    )
    return f"| {figure} | {before:{unit}} | {after:{unit}} | {ratio:.3f} | {verdict} | {spread} |"


def table(samples: Samples, figures: list[tuple[str, str, float | None]]) -> str:
    lines = [
        f"| figure | {UNSAFE} (median) | {SANDBOX} | sandbox / unsafe | target | range |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_row(samples, figure, unit, target) for figure, unit, target in figures]
    return "\n".join(lines)


async def run(work: Path, load: Load, rounds: int, starts: int) -> None:
    """The whole ``--sandbox compare`` mode: measure, then print the report."""
    package = build_package(work / "custom-package")
    print(f"custom-runtime model, unsafe against sandbox ({rounds} rounds) ...", flush=True)
    served = await compare(work, package, load, rounds)
    print(f"worker starts in-process ({starts} per side, alternating) ...", flush=True)
    started = await worker_starts(package, starts)
    print(f"\n## Custom runtime: single-row predict, {load.seconds:g} s per run, medians\n")
    rows: list[tuple[str, str, float | None]] = []
    for count in load.clients:
        rows += [(f"c={count} req/s", ",.0f", TARGET)]
        rows += [(f"c={count} {name}", ".2f", None) for name in ("p50", "p99", "CPU ms/req")]
    print(table(served, rows))
    print(
        "\np50 and p99 in ms; CPU ms/req: CPU time of the server and its worker (and bwrap)"
        " per answered request; range: min-max over the rounds (unsafe, then sandbox)."
    )
    print("\n## Custom runtime: worker start, medians\n")
    figures: list[tuple[str, str, float | None]] = [
        ("load s", ".3f", None),
        ("first predict ms", ".2f", None),
        ("predict us", ",.0f", None),
    ]
    print(table(served, [("publish -> RUNNING s", ".3f", None)]))
    print(table(started, figures).split("\n", 2)[2])
    print(
        "\npublish -> RUNNING: through the API, one per round and side (server restarted"
        " each time); load: CustomRuntime.load in-process (worker process, Python, numpy,"
        " model_service.py and its weights), then the first predict and the mean of"
        " 1,000 later predicts (pipe round trip), on the benchmark's event loop."
    )
