"""The roll-up: every interval, this process's deltas go into the metrics table, once per
tier (e.g. 10 s kept 7 days, 1 h kept 90 days), and rows past their retention go.

Writing every tier from the same deltas keeps the coarse tier exact (no downsampling
job to miss or repeat an interval). Deltas are taken against what the last successful
write recorded, so a failed write is offered again at the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from app.adapters.sql.port import Database
from app.monitoring import store
from app.monitoring.gauges import Inflight
from app.monitoring.process import ProcessSampler, process_name
from app.monitoring.recorder import Key, Recorder
from app.monitoring.store import Point

log = logging.getLogger("modelrepo.monitoring")


@dataclass(frozen=True, slots=True)
class Tier:
    resolution: int  # seconds per row
    retention: int  # seconds rows are kept


@dataclass(frozen=True, slots=True)
class _Flushed:
    statuses: list[int]
    buckets: list[int]
    latency_sum: float
    loads: int


def check_tiers(tiers: list[Tier]) -> list[Tier]:
    """Sorted by resolution; each a positive multiple of the finest (the interval)."""
    ordered = sorted(tiers, key=lambda t: t.resolution)
    if not ordered or ordered[0].resolution < 1:
        raise ValueError("the metrics interval must be at least 1 second")
    for tier in ordered:
        if tier.resolution % ordered[0].resolution or tier.retention < tier.resolution:
            raise ValueError(
                f"metrics tier {tier.resolution} s: a multiple of the interval"
                f" ({ordered[0].resolution} s), kept at least one interval"
            )
    return ordered


class Rollup:
    def __init__(
        self,
        db: Database,
        recorder: Recorder,
        tiers: list[Tier],
        *,
        inflight: Callable[[], Inflight] | None = None,
        process: str | None = None,
    ) -> None:
        self.db = db
        self.recorder = recorder
        self.tiers = check_tiers(tiers)
        self.interval = self.tiers[0].resolution
        self.inflight = inflight
        self.process = process or process_name()
        self.sampler = ProcessSampler()
        self._flushed: dict[Key, _Flushed] = {}
        self._cpu_flushed = self.sampler.cpu_seconds()
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()

    async def setup(self) -> None:
        await store.setup(self.db)

    def stop(self) -> None:
        """Ask run_forever to return (after a flush in progress: cancelling one midway
        could leave a transaction open)."""
        self._stopping.set()

    async def run_forever(self) -> None:
        while not self._stopping.is_set():
            now = time.time()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval - now % self.interval):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            try:
                # Just past a boundary: the deltas belong to the interval that ended.
                await self.flush(time.time() - self.interval / 2)
            except Exception:  # the next interval offers the same deltas again
                log.exception("metrics roll-up failed")

    async def flush_quietly(self) -> None:
        """A last flush at shutdown; a failure is logged, not raised."""
        try:
            await self.flush()
        except Exception:
            log.exception("the last metrics roll-up failed")

    async def flush(self, at: float | None = None) -> int:
        """Write the deltas since the last flush into the interval holding ``at`` (now by
        default) of every tier, then drop expired rows; returns the rows per tier."""
        moment = time.time() if at is None else at
        async with self._lock:
            points, flushed, cpu = self._take()
            batches = []
            for tier in self.tiers:
                start = int(moment // tier.resolution) * tier.resolution
                batches.append((tier.resolution, [replace(p, start_at=start) for p in points]))
            await store.write(self.db, batches)
            self._flushed.update(flushed)
            self._cpu_flushed = cpu
            for tier in self.tiers:
                oldest = int(moment // tier.resolution) * tier.resolution - tier.retention
                await store.prune(self.db, tier.resolution, oldest)
        return len(points)

    def _take(self) -> tuple[list[Point], dict[Key, _Flushed], float]:
        """The deltas (no awaits: nothing is recorded in between)."""
        peaks = self.inflight() if self.inflight is not None else {}
        points: list[Point] = []
        flushed: dict[Key, _Flushed] = {}
        for key, series in list(self.recorder.series.items()):
            now = _Flushed(series.statuses[:], series.buckets[:], series.latency_sum, series.loads)
            before = self._flushed.get(key)
            _, _, peak = peaks.pop(key, ("", 0, 0))
            point = Point(0, self.process, series.service_id, series.version, series.service)
            point.statuses = _minus(now.statuses, before.statuses if before else None)
            point.buckets = _minus(now.buckets, before.buckets if before else None)
            point.latency_sum = now.latency_sum - (before.latency_sum if before else 0.0)
            point.inflight_peak = peak
            if now.loads != (before.loads if before else 0):
                point.load_seconds = series.load_seconds
            if any(point.statuses) or peak or point.load_seconds is not None:
                points.append(point)
                flushed[key] = now
        for (service_id, version), (name, _, peak) in peaks.items():
            if peak:
                point = Point(0, self.process, service_id, version, name)
                point.inflight_peak = peak
                points.append(point)
        cpu = self.sampler.cpu_seconds()
        points.append(
            Point(
                0,
                self.process,
                "",
                None,
                cpu_seconds=max(cpu - self._cpu_flushed, 0.0),
                memory_bytes=self.sampler.memory_bytes(),
            )
        )
        return points, flushed, cpu


def _minus(now: list[int], before: list[int] | None) -> list[int]:
    if before is None:
        return now
    return [a - b for a, b in zip(now, before, strict=True)]
