"""The in-process recorder: cumulative counters per (service, version), kept cheap.

Recording a request is a dict lookup, three list/attribute increments and a bisect: no
locks (everything runs on the event loop thread), no awaits. The Prometheus exposition
reads the cumulative totals; the roll-up subtracts what it wrote last time.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from app.monitoring.histogram import BOUNDS, empty

# Status classes by index (status // 100); 1xx never leaves the predict path.
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
Key = tuple[str, int | None]


def status_index(status: int) -> int:
    return min(max(status // 100, 1), 5) - 1


@dataclass(slots=True)
class Series:
    """Everything recorded for one version of one service (version None: requests
    answered before a version was chosen, e.g. a wrong access key)."""

    service_id: str
    service: str
    version: int | None
    statuses: list[int] = field(default_factory=lambda: [0] * len(CLASSES))
    buckets: list[int] = field(default_factory=empty)
    latency_sum: float = 0.0
    loads: int = 0
    load_seconds: float | None = None

    @property
    def requests(self) -> int:
        return sum(self.statuses)


@dataclass(slots=True)
class BatchTotals:
    runs: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    seconds: float = 0.0


class Recorder:
    def __init__(self) -> None:
        self.series: dict[Key, Series] = {}
        self.batch = BatchTotals()

    def _series(self, service_id: str, service: str, version: int | None) -> Series:
        series = self.series[(service_id, version)] = Series(service_id, service, version)
        return series

    def record(
        self, service_id: str, service: str, version: int | None, status: int, seconds: float
    ) -> None:
        """One answered request: its status and its latency in seconds."""
        series = self.series.get((service_id, version))
        if series is None:
            series = self._series(service_id, service, version)
        series.statuses[status_index(status)] += 1
        series.buckets[bisect_left(BOUNDS, seconds)] += 1
        series.latency_sum += seconds

    def model_loaded(self, service_id: str, service: str, version: int, seconds: float) -> None:
        series = self.series.get((service_id, version))
        if series is None:
            series = self._series(service_id, service, version)
        series.loads += 1
        series.load_seconds = seconds

    def batch_run(self, status: str, rows: int, seconds: float) -> None:
        self.batch.runs[status] = self.batch.runs.get(status, 0) + 1
        self.batch.rows += rows
        self.batch.seconds += seconds
