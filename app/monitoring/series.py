"""Time series for a query: which tier to read, the step, and points per version.

Pure functions over the stored points, so the arithmetic is tested without a database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from app.monitoring import histogram
from app.monitoring.rollup import Tier
from app.monitoring.store import Point

MAX_POINTS = 1000


class WindowError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Window:
    start: int  # the first point's time (unix seconds), aligned to the resolution
    end: int  # exclusive
    step: int
    resolution: int
    requested_step: int
    truncated: bool
    notes: tuple[str, ...]

    @property
    def count(self) -> int:
        return math.ceil((self.end - self.start) / self.step)


def plan(
    start: float, end: float, step: int, tiers: list[Tier], now: float, max_points: int
) -> Window:
    """The window to read, or WindowError for a bad range or step."""
    if step <= 0:
        raise WindowError("step", f"step must be a positive number of seconds, not {step}")
    if start >= end:
        raise WindowError("from", "from must be before to")
    notes: list[str] = []
    # The finest tier still holding data as old as the start, else the coarsest.
    covering = [t for t in tiers if start >= now - t.retention] or [tiers[-1]]
    resolution = covering[0].resolution
    chosen = step
    if chosen % resolution:
        chosen = math.ceil(chosen / resolution) * resolution
        notes.append(
            f"step {step} s raised to {chosen} s: data of this range is stored at"
            f" {resolution} s resolution"
        )
    truncated = False
    span = math.ceil(end / resolution) * resolution - int(start // resolution) * resolution
    if math.ceil(span / chosen) > max_points:
        wider = math.ceil(span / max_points / resolution) * resolution
        # A step as wide as a coarser tier reads that tier (far fewer rows).
        coarser = [t.resolution for t in covering if t.resolution <= wider]
        resolution = coarser[-1]
        wider = math.ceil(wider / resolution) * resolution
        notes.append(f"at most {max_points} points per series: step {chosen} s raised to {wider} s")
        chosen, truncated = wider, True
    first = int(start // resolution) * resolution
    last = math.ceil(end / resolution) * resolution
    while math.ceil((last - first) / chosen) > max_points:  # realigned to a coarser tier
        chosen += resolution
    return Window(first, last, chosen, resolution, step, truncated, tuple(notes))


@dataclass(slots=True)
class Sample:
    """One point of one version's series."""

    time: int
    statuses: list[int] = field(default_factory=lambda: [0] * 5)
    buckets: list[int] = field(default_factory=histogram.empty)
    latency_sum: float = 0.0
    inflight_peak: int = 0
    load_seconds: float | None = None
    cpu_seconds: float | None = None
    memory_bytes: int | None = None
    seconds: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def mean(self) -> float | None:
        return self.latency_sum / self.requests if self.requests else None

    def quantile(self, q: float) -> float | None:
        return histogram.quantile(self.buckets, q)

    @property
    def cpu_percent(self) -> float | None:
        if self.cpu_seconds is None or not self.seconds:
            return None
        return 100.0 * self.cpu_seconds / self.seconds


def series(points: list[Point], window: Window) -> dict[int | None, list[Sample]]:
    """Dense samples per version (None: requests answered before a version was chosen).

    Counts and histograms add up over processes and intervals; in-flight is the highest
    sum over processes in one interval; CPU and memory are those of the processes that
    served the version in that step (CPU time over the step, the largest resident size
    of each, summed)."""
    versions: dict[int | None, list[Sample]] = {}
    inflight: dict[tuple[int | None, int, int], int] = {}
    servers: dict[tuple[int | None, int], set[str]] = {}
    cpu: dict[tuple[str, int], float] = {}
    memory: dict[tuple[str, int], int] = {}
    for p in points:
        index = (p.start_at - window.start) // window.step
        if not 0 <= index < window.count:
            continue
        if not p.service_id:
            cpu[(p.process, index)] = cpu.get((p.process, index), 0.0) + p.cpu_seconds
            memory[(p.process, index)] = max(memory.get((p.process, index), 0), p.memory_bytes)
            continue
        samples = versions.get(p.version)
        if samples is None:
            samples = versions[p.version] = _dense(window)
        sample = samples[index]
        sample.statuses = [a + b for a, b in zip(sample.statuses, p.statuses, strict=True)]
        histogram.add_into(sample.buckets, p.buckets)
        sample.latency_sum += p.latency_sum
        if p.load_seconds is not None:
            sample.load_seconds = p.load_seconds
        at = (p.version, index, p.start_at)
        inflight[at] = inflight.get(at, 0) + p.inflight_peak
        servers.setdefault((p.version, index), set()).add(p.process)
    for (version, index, _), peak in inflight.items():
        sample = versions[version][index]
        sample.inflight_peak = max(sample.inflight_peak, peak)
    for (version, index), processes in servers.items():
        seen = [proc for proc in processes if (proc, index) in memory]
        if seen:
            sample = versions[version][index]
            sample.cpu_seconds = sum(cpu[(proc, index)] for proc in seen)
            sample.memory_bytes = sum(memory[(proc, index)] for proc in seen)
    return dict(sorted(versions.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))


def _dense(window: Window) -> list[Sample]:
    return [
        Sample(time=window.start + i * window.step, seconds=window.step)
        for i in range(window.count)
    ]
