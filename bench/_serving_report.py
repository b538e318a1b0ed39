"""Tables and ratios of the serving benchmark."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from _load import percentile
from _report import table
from _serving_load import Measured

MR_BATCH = "modelrepo (batching)"
MR_SINGLE = "modelrepo (no batching)"
MR_WAIT = "modelrepo (batching, wait 2 ms)"
BARE = "bare endpoint"
BARE_2 = "bare endpoint, --workers 2"
BARE_2_ASYNCIO = "bare endpoint, --workers 2 --loop asyncio"
MLFLOW = "mlflow models serve"
ORT = "onnxruntime in-process: session.run"
ORT_JSON = "in-process: json.loads + session.run + json.dumps"

# Measured on this machine earlier (requests/s at 1 and 16 clients), for context.
REFERENCE = {MLFLOW: (560.0, 740.0), BARE: (3700.0, 4800.0)}
MLFLOW_TARGET = 3.0
BARE_TARGET = 1.0


@dataclass
class Figures:
    single: dict[tuple[str, int], Measured] = field(default_factory=dict)
    large: dict[str, Measured] = field(default_factory=dict)
    stall: dict[str, Measured] = field(default_factory=dict)
    in_process: dict[str, list[float]] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)
    steps: list[list[object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}%"


def single_table(fig: Figures) -> str:
    rows = []
    for (system, clients), m in fig.single.items():
        r = m.result
        rows.append([system, clients, r.requests, r.errors, r.rate, r.p50_ms, r.p99_ms])
        rows[-1] += [r.max_ms, _pct(r.over_35ms), _pct(m.server_cpu), _pct(m.client_cpu)]
    heads = ["system", "clients", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms"]
    return table([*heads, "> 35 ms", "server CPU", "client CPU"], rows)


def large_table(fig: Figures) -> str:
    base = fig.in_process.get(ORT)
    floor = percentile(base, 50) if base else math.nan
    rows: list[list[object]] = []
    for name, samples in fig.in_process.items():
        p50 = percentile(samples, 50)
        rows.append([name, len(samples), p50, percentile(samples, 99), f"{p50 / floor:.1f}x"])
    for system, m in fig.large.items():
        r = m.result
        rows.append([system, r.requests, r.p50_ms, r.p99_ms, f"{r.p50_ms / floor:.1f}x"])
        if r.errors:
            rows[-1][0] = f"{system} ({r.errors} errors)"
    return table(["1,000 rows per call", "calls", "p50 ms", "p99 ms", "p50 / session.run"], rows)


def stall_table(fig: Figures) -> str:
    rows = []
    for system, m in fig.stall.items():
        r = m.result
        stalled = r.p50_ms > 35 or r.over_35ms > 0.01
        verdict = "STALLS (~40 ms floor)" if stalled else "no stall"
        rows.append([system, r.requests, r.p50_ms, r.p99_ms, _pct(r.over_35ms), verdict])
    return table(["one keep-alive connection", "requests", "p50 ms", "p99 ms", "> 35 ms", ""], rows)


def _rate(fig: Figures, system: str, clients: int) -> float:
    m = fig.single.get((system, clients))
    return m.result.rate if m is not None else math.nan


def ratios(fig: Figures, clients: tuple[int, ...]) -> str:
    rows: list[list[object]] = []

    def add(mine: str, peer: str, target: float | None, only: tuple[int, ...] = clients) -> None:
        for c in only:
            a, b = _rate(fig, mine, c), _rate(fig, peer, c)
            if math.isnan(a) or math.isnan(b) or b <= 0:
                continue
            ratio = a / b
            verdict = ""
            if target is not None:
                verdict = f"{'meets' if ratio >= target else 'BELOW'} target >= {target:g}x"
            rows.append([f"{mine} / {peer}", c, a, b, f"{ratio:.2f}x", verdict])

    add(MR_BATCH, MLFLOW, MLFLOW_TARGET)
    add(MR_SINGLE, MLFLOW, MLFLOW_TARGET)
    add(MR_WAIT, MLFLOW, MLFLOW_TARGET)
    # The stated goal against the floor: with batching, at the highest concurrency.
    add(MR_BATCH, BARE, None, (min(clients),))
    add(MR_BATCH, BARE, BARE_TARGET, (max(clients),))
    add(MR_SINGLE, BARE, None)
    add(MR_WAIT, BARE, None)
    if not rows:
        return "(no pairs to compare)"
    return table(["requests/s ratio", "clients", "mine/s", "peer/s", "ratio", ""], rows)


def steps_table(fig: Figures) -> str:
    return table(["step (one single-row request, in-process)", "us per call"], fig.steps)


def reference_table(fig: Figures, clients: tuple[int, ...]) -> str:
    rows: list[list[object]] = []
    for system, earlier in REFERENCE.items():
        for c, before in zip((1, 16), earlier, strict=True):
            now = _rate(fig, system, c)
            if c in clients and not math.isnan(now):
                rows.append([system, c, now, before, f"{now / before:.2f}x"])
    return table(["peer", "clients", "req/s now", "req/s earlier", "now / earlier"], rows)
