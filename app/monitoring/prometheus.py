"""The Prometheus exposition: a collector over the recorder's cumulative totals.

Labels are kept to service, version and status class, so the number of series grows
with the services and versions deployed, never with clients or payloads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

from app.monitoring import histogram
from app.monitoring.gauges import Inflight
from app.monitoring.process import ProcessSampler
from app.monitoring.recorder import CLASSES, Recorder

Metric = CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily
Bucket = tuple[str, float] | tuple[str, float, Exemplar]


class MonitoringCollector(Collector):
    def __init__(
        self,
        recorder: Recorder,
        sampler: ProcessSampler,
        inflight: Callable[[], Inflight] | None = None,
        cache_mismatches: Callable[[], int] | None = None,
    ) -> None:
        self.recorder = recorder
        self.sampler = sampler
        self.inflight = inflight
        self.cache_mismatches = cache_mismatches

    def collect(self) -> Iterator[Metric]:
        labels = ["service", "version"]
        requests = CounterMetricFamily(
            "modelrepo_predict_requests",
            "Predict requests answered, by status class.",
            labels=[*labels, "status_class"],
        )
        latency = HistogramMetricFamily(
            "modelrepo_predict_latency_seconds",
            "Predict latency from request to answer.",
            labels=labels,
        )
        load = GaugeMetricFamily(
            "modelrepo_model_load_seconds",
            "How long the last load of a version took.",
            labels=labels,
        )
        for series in list(self.recorder.series.values()):
            names = [series.service, "" if series.version is None else str(series.version)]
            for index, count in enumerate(series.statuses):
                if count:
                    requests.add_metric([*names, CLASSES[index]], count)
            if series.requests:
                buckets: list[Bucket] = [
                    (_le(bound), count) for bound, count in histogram.cumulative(series.buckets)
                ]
                latency.add_metric(names, buckets, series.latency_sum)
            if series.load_seconds is not None:
                load.add_metric(names, series.load_seconds)
        yield requests
        yield latency
        yield load
        yield self._inflight(labels)
        yield from self._batch()
        if self.cache_mismatches is not None:
            yield CounterMetricFamily(
                "modelrepo_model_cache_mismatches",
                "Cached packages found to differ from their manifest, and fetched again.",
                value=self.cache_mismatches(),
            )
        yield from self._process()

    def _inflight(self, labels: list[str]) -> GaugeMetricFamily:
        gauge = GaugeMetricFamily(
            "modelrepo_predict_inflight", "Predict requests in flight now.", labels=labels
        )
        if self.inflight is not None:
            for (_, version), (service, current, _) in sorted(self.inflight().items()):
                gauge.add_metric([service, str(version)], current)
        return gauge

    def _batch(self) -> Iterator[Metric]:
        batch = self.recorder.batch
        runs = CounterMetricFamily(
            "modelrepo_batch_runs", "Batch runs finished, by outcome.", labels=["status"]
        )
        for status, count in sorted(batch.runs.items()):
            runs.add_metric([status], count)
        yield runs
        yield CounterMetricFamily(
            "modelrepo_batch_rows", "Rows predicted by completed batch runs.", value=batch.rows
        )
        yield CounterMetricFamily(
            "modelrepo_batch_run_seconds", "Wall time of finished batch runs.", value=batch.seconds
        )

    def _process(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "process_cpu_seconds",
            "User and system CPU time of this server process.",
            value=self.sampler.cpu_seconds(),
        )
        yield GaugeMetricFamily(
            "process_resident_memory_bytes",
            "Resident memory of this server process.",
            value=self.sampler.memory_bytes(),
        )


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def registry_for(collector: MonitoringCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
