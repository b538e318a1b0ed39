"""Predict throughput with monitoring on against monitoring off (MODELREPO_MONITORING).

One modelrepo data directory, one published service; the server is restarted with
monitoring on and off alternately for several rounds (the order flips every round so
drift on a shared machine hits both sides alike) and each side's median is compared.
Monitoring on includes its roll-up writing to SQLite every 10 s during the runs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import _serving_mr as mr
from _procs import Server
from _serving_load import Measured

from app.monitoring.recorder import Recorder

ON, OFF = "monitoring on", "monitoring off"
TARGET = 0.95
Load = Callable[[Server, str, tuple[str, ...], int, float], Awaitable[Measured]]


async def compare(
    work: Path,
    onnx: Path,
    body: bytes,
    load: Load,
    clients: tuple[int, ...],
    seconds: float,
    rounds: int,
) -> dict[tuple[str, int], list[float]]:
    """Requests/s per (side, clients), one figure per round."""
    data, logs = work / "monitoring-data", work / "logs"
    envs = {
        side: mr.env_for(data, max_batch_size=64, max_wait_ms=0, monitoring=side == ON)
        for side in (ON, OFF)
    }
    token = await asyncio.to_thread(mr.create_token, envs[ON])
    async with mr.serve(envs[ON], logs / "monitoring-setup.log") as server:
        version = await asyncio.to_thread(mr.import_onnx, server.base_url, token, onnx, "iris")
        service = await mr.publish(server.base_url, token, "iris", version)
    path, headers = f"/v1/models/{service.name}:predict", (f"Authorization: {service.key}",)
    rates: dict[tuple[str, int], list[float]] = {}
    for number in range(rounds):
        for side in (ON, OFF) if number % 2 == 0 else (OFF, ON):
            log = logs / f"monitoring-{number}-{side.split()[-1]}.log"
            async with mr.serve(envs[side], log) as server:
                await mr.wait_serving(server.base_url, service, body)
                for count in clients:
                    m = await load(server, path, headers, count, seconds)
                    rates.setdefault((side, count), []).append(m.result.rate)
                    print(
                        f"  round {number + 1} {side:<15} c={count:<3} {m.result.rate:8,.0f} req/s"
                        f"  p50 {m.result.p50_ms:6.2f} ms  p99 {m.result.p99_ms:6.2f} ms"
                        f"  errors {m.result.errors}",
                        flush=True,
                    )
    return rates


def table(rates: dict[tuple[str, int], list[float]], clients: tuple[int, ...]) -> str:
    lines = [
        "| clients | monitoring on (req/s, median) | monitoring off | on / off | target |",
        "|---|---|---|---|---|",
    ]
    for count in clients:
        on = statistics.median(rates[(ON, count)])
        off = statistics.median(rates[(OFF, count)])
        ratio = on / off if off else float("nan")
        verdict = "met" if ratio >= TARGET else "MISSED"
        lines.append(f"| {count} | {on:,.0f} | {off:,.0f} | {ratio:.3f} | >= {TARGET} {verdict} |")
    return "\n".join(lines)


def record_cost(calls: int = 200_000) -> float:
    """Microseconds per ``Recorder.record`` call (what monitoring adds to each request,
    besides one comparison for the in-flight peak), timed in-process."""
    recorder = Recorder()
    latencies = [0.0004 * (1 + i % 50) for i in range(1000)]
    started = time.perf_counter()
    for i in range(calls):
        recorder.record("service-id", "iris", 1 + i % 2, 200, latencies[i % 1000])
    return (time.perf_counter() - started) / calls * 1e6
