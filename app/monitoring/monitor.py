"""Monitoring as one object the container holds: the recorder the data plane writes to,
the roll-up, batch run metrics and the Prometheus registry."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from app.adapters.sql.port import Database
from app.monitoring.batch import BatchMetrics
from app.monitoring.gauges import inflight
from app.monitoring.prometheus import MonitoringCollector, registry_for
from app.monitoring.recorder import Recorder
from app.monitoring.rollup import Rollup, Tier
from app.serving.plane import DataPlane
from app.settings import Settings

DAY = 86_400


@dataclass
class Monitoring:
    recorder: Recorder
    rollup: Rollup
    batch: BatchMetrics
    registry: CollectorRegistry
    max_points: int

    async def setup(self) -> None:
        await self.rollup.setup()
        await self.batch.setup()


def tiers(settings: Settings) -> list[Tier]:
    return [
        Tier(settings.metrics_interval_seconds, int(settings.metrics_retention_days * DAY)),
        Tier(settings.metrics_coarse_seconds, int(settings.metrics_coarse_retention_days * DAY)),
    ]


def build_monitoring(settings: Settings, db: Database, plane: DataPlane) -> Monitoring:
    """Monitoring for this process; the plane records into its recorder from now on."""
    recorder = Recorder()
    rollup = Rollup(
        db,
        recorder,
        tiers(settings),
        inflight=functools.partial(inflight, plane, reset_peaks=True),
    )
    collector = MonitoringCollector(
        recorder,
        rollup.sampler,
        functools.partial(inflight, plane),
        cache_mismatches=lambda: plane.cache.mismatches,
    )
    plane.recorder = recorder
    return Monitoring(
        recorder=recorder,
        rollup=rollup,
        batch=BatchMetrics(db, recorder, rollup.process),
        registry=registry_for(collector),
        max_points=settings.metrics_max_points,
    )
