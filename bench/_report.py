"""Plain-text tables and the ratio summary."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from _eventstore import Row as StoreRow
from _load import Run


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.ljust(w) if i == 0 or not _numeric(v) else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths).rstrip()
    return "\n".join([line(list(headers)), rule, *(line(r) for r in cells)])


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace("x", "").lstrip("-").isdigit()


@dataclass(frozen=True)
class Key:
    system: str  # "modelrepo" or "mlflow"
    backend: str  # "sqlite" or "postgres"
    case: str


@dataclass
class CpuUse:
    """CPU seconds spent while one side's write rounds ran, and the versions they made."""

    server_s: float = 0.0
    database_s: float = 0.0
    versions: int = 0

    def per_version_ms(self) -> tuple[float, float, float]:
        """(server, database, both) milliseconds of CPU per version created."""
        if self.versions == 0:
            return math.nan, math.nan, math.nan
        server, database = self.server_s * 1000, self.database_s * 1000
        return (
            server / self.versions,
            database / self.versions,
            (server + database) / self.versions,
        )


@dataclass
class Results:
    writes: dict[Key, Run] = field(default_factory=dict)
    # case = f"{query} @ {models} models"
    reads: dict[Key, Run] = field(default_factory=dict)
    read_sizes: dict[Key, tuple[int, int]] = field(default_factory=dict)
    setup_rows: list[list[object]] = field(default_factory=list)
    store_rows: list[StoreRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # (backend, case) -> modelrepo/MLflow rate ratio of each alternating write round
    paired: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    # (backend, case, "modelrepo" or "mlflow") -> CPU used in the paired write rounds
    cpu: dict[tuple[str, str, str], CpuUse] = field(default_factory=dict)


def write_table(results: Results) -> str:
    rows = [
        [
            k.system,
            k.backend,
            k.case,
            r.requests,
            r.errors,
            r.seconds,
            r.rate,
            r.p50,
            r.p99,
            "TIMED OUT" if r.timed_out else "",
        ]
        for k, r in results.writes.items()
    ]
    heads = ["system", "backend", "mode", "requests", "errors", "s", "versions/s"]
    return table([*heads, "p50 ms", "p99 ms", ""], rows)


def read_table(results: Results) -> str:
    rows = []
    for k, r in results.reads.items():
        models, versions = results.read_sizes[k]
        query = k.case.split(" @ ")[0]
        rows.append([k.system, k.backend, query, models, versions, r.requests, r.errors])
        rows[-1] += [r.p50, r.p99, r.rate]
    heads = ["system", "backend", "query", "models", "versions", "requests", "errors"]
    return table([*heads, "p50 ms", "p99 ms", "req/s"], rows)


def store_table(results: Results) -> str:
    rows = [
        [r.case, r.unit, r.store_per_s, r.raw_per_s, f"{r.ratio:.2f}x"] for r in results.store_rows
    ]
    return table(["case", "unit", "event store", "raw asyncpg", "store / raw"], rows)


def _paired_ratios(results: Results) -> list[str]:
    rows = []
    for (backend, case), rounds in results.paired.items():
        ours = results.writes[Key("modelrepo", backend, case)]
        peer = results.writes[Key("mlflow", "postgres", f"{case} (beside {backend})")]
        median = statistics.median(rounds)
        verdict = "meets" if median >= 5 else "BELOW"
        spread = f"{min(rounds):.2f}-{max(rounds):.2f}x"
        rows.append([backend, case, ours.rate, peer.rate, f"{median:.2f}x", spread])
        rows[-1].append(f"{verdict} target >= 5x")
    heads = ["backend", "mode", "modelrepo/s", "mlflow/s", "ratio (median)", "rounds", ""]
    return [
        "create-version throughput, modelrepo / MLflow in alternating rounds (higher is"
        " better; the ratio is the median of the rounds'):",
        table(heads, rows),
    ]


def _cpu_per_version(results: Results) -> list[str]:
    """CPU per created version in the paired rounds: each side's work, apart from what a
    sequential client waits for (disk flushes, processes waking each other)."""
    rows = []
    for backend, case in results.paired:
        ours = results.cpu.get((backend, case, "modelrepo"))
        peer = results.cpu.get((backend, case, "mlflow"))
        if ours is None or peer is None:
            continue
        ours_ms, peer_ms = ours.per_version_ms(), peer.per_version_ms()
        rows.append([backend, case, *ours_ms, *peer_ms, f"{peer_ms[2] / ours_ms[2]:.2f}x"])
    if not rows:
        return []
    heads = ["backend", "mode", "mr server", "mr PostgreSQL", "mr total", "mlflow server"]
    return [
        "",
        "CPU ms per created version in the same rounds (server process tree; every"
        " PostgreSQL process on the machine), MLflow / modelrepo (higher is better):",
        table([*heads, "mlflow PostgreSQL", "mlflow total", "mlflow / mr"], rows),
    ]


def _sequential_ratios(results: Results) -> list[str]:
    peer_writes = {k.case: r for k, r in results.writes.items() if k.system == "mlflow"}
    rows = []
    for k, r in results.writes.items():
        peer = peer_writes.get(k.case)
        if k.system == "modelrepo" and peer is not None and peer.rate > 0:
            verdict = "meets" if r.rate / peer.rate >= 5 else "BELOW"
            rows.append([k.backend, k.case, r.rate, peer.rate, f"{r.rate / peer.rate:.2f}x"])
            rows[-1].append(f"{verdict} target >= 5x")
    if not rows:
        return []
    return [
        "create-version throughput, modelrepo / MLflow (higher is better):",
        table(["backend", "mode", "modelrepo/s", "mlflow/s", "ratio", ""], rows),
    ]


def ratios(results: Results) -> str:
    lines: list[str] = []
    if results.paired:
        lines += _paired_ratios(results)
        lines += _cpu_per_version(results)
    else:
        lines += _sequential_ratios(results)
    api = {(k.backend, k.case): r for k, r in results.writes.items() if k.system == "modelrepo"}
    rows = []
    for k, r in results.writes.items():
        http = api.get((k.backend, k.case.replace("caller", "client")))
        if k.system != "modelrepo" and k.system != "mlflow" and http is not None:
            rows.append([k.backend, k.case, r.rate, http.rate, f"{http.rate / r.rate:.2f}x"])
    if rows:
        lines.append("")
        lines.append("modelrepo over HTTP+GraphQL / the same service calls in-process:")
        lines.append(
            table(["backend", "mode", "in-process/s", "HTTP/s", "HTTP / in-process"], rows)
        )
    peer_reads = {k.case: r for k, r in results.reads.items() if k.system == "mlflow"}
    rows = []
    for k, r in results.reads.items():
        peer = peer_reads.get(k.case)
        if k.system == "modelrepo" and peer is not None:
            p99 = r.p99 / peer.p99
            verdict = "meets" if p99 < 1 else "ABOVE"
            rows.append([k.backend, k.case, r.p50, peer.p50, f"{r.p50 / peer.p50:.2f}x"])
            rows[-1] += [r.p99, peer.p99, f"{p99:.2f}x", f"{verdict} target < 1x"]
    if rows:
        lines.append("")
        lines.append("read latency at equal data size, modelrepo / MLflow (lower is better):")
        heads = ["backend", "query @ size", "mr p50", "mlflow p50", "p50 ratio", "mr p99"]
        lines.append(table([*heads, "mlflow p99", "p99 ratio", ""], rows))
    return "\n".join(lines) if lines else "(no peer figures to compare)"
