"""Histogram, recorder and series arithmetic (no database)."""

from __future__ import annotations

import pytest

from app.monitoring import histogram
from app.monitoring.recorder import Recorder
from app.monitoring.rollup import Tier, check_tiers
from app.monitoring.series import WindowError, plan, series
from app.monitoring.store import Point

TIERS = [Tier(10, 7 * 86_400), Tier(3600, 90 * 86_400)]
NOW = 1_800_000_000.0


def test_buckets_are_log_spaced_and_ordered() -> None:
    assert histogram.bucket_of(0.0) == 0
    assert histogram.bucket_of(1e-5) == 0
    assert histogram.bucket_of(1e-3) < histogram.bucket_of(2e-3) < histogram.bucket_of(1.0)
    ratios = {round(b / a, 6) for a, b in zip(histogram.BOUNDS, histogram.BOUNDS[1:], strict=False)}
    assert ratios == {round(2 ** (1 / 8), 6)}
    assert histogram.bucket_of(1e6) == histogram.BUCKETS - 1  # the open-ended bucket


def test_quantiles_are_within_a_bucket_of_the_truth() -> None:
    counts = histogram.empty()
    values = [i / 1000 for i in range(1, 1001)]  # 1 ms .. 1 s, uniform
    for v in values:
        counts[histogram.bucket_of(v)] += 1
    for q in (0.5, 0.9, 0.99):
        estimate = histogram.quantile(counts, q)
        assert estimate is not None
        assert abs(estimate - values[int(q * 1000) - 1]) / values[int(q * 1000) - 1] < 0.095
    assert histogram.quantile(histogram.empty(), 0.5) is None


def test_histograms_add_up_dense_and_sparse() -> None:
    a, b = histogram.empty(), histogram.empty()
    a[3], b[3], b[40] = 2, 5, 1
    total = histogram.empty()
    histogram.add_into(total, a)
    histogram.add_into(total, histogram.sparse(b))
    assert (total[3], total[40], sum(total)) == (7, 1, 8)
    cumulative = histogram.cumulative(total)
    assert cumulative[-1] == (float("inf"), 8)
    assert [c for _, c in cumulative] == sorted(c for _, c in cumulative)


def test_recorder_counts_status_classes_and_latency() -> None:
    recorder = Recorder()
    recorder.record("s1", "svc", 1, 200, 0.002)
    recorder.record("s1", "svc", 1, 200, 0.004)
    recorder.record("s1", "svc", 1, 422, 0.001)
    recorder.record("s1", "svc", None, 401, 0.0001)
    recorder.record("s1", "svc", 1, 503, 0.5)
    recorder.model_loaded("s1", "svc", 1, 0.25)
    one = recorder.series[("s1", 1)]
    assert one.statuses == [0, 2, 0, 1, 1]
    assert one.requests == 4 and sum(one.buckets) == 4
    assert one.latency_sum == pytest.approx(0.507)
    assert (one.loads, one.load_seconds) == (1, 0.25)
    assert recorder.series[("s1", None)].statuses == [0, 0, 0, 1, 0]


def test_plan_rejects_bad_ranges_and_steps() -> None:
    with pytest.raises(WindowError) as step:
        plan(NOW - 60, NOW, 0, TIERS, NOW, 1000)
    assert step.value.field == "step"
    with pytest.raises(WindowError) as negative:
        plan(NOW - 60, NOW, -5, TIERS, NOW, 1000)
    assert negative.value.field == "step"
    with pytest.raises(WindowError) as backwards:
        plan(NOW, NOW - 60, 10, TIERS, NOW, 1000)
    assert backwards.value.field == "from"


def test_plan_caps_points_and_says_so() -> None:
    window = plan(NOW - 86_400, NOW, 10, TIERS, NOW, 1000)
    assert window.truncated and window.count <= 1000
    assert window.step == 90 and window.requested_step == 10
    assert "at most 1000 points" in window.notes[0]
    week = plan(NOW - 6 * 86_400, NOW, 60, TIERS, NOW, 100)
    assert (week.resolution, week.step, week.truncated) == (3600, 7200, True)
    assert week.count <= 100
    fine = plan(NOW - 600, NOW, 10, TIERS, NOW, 1000)
    assert (fine.truncated, fine.step, fine.count, fine.notes) == (False, 10, 60, ())


def test_plan_reads_the_coarse_tier_for_old_ranges_and_aligns_the_step() -> None:
    old = plan(NOW - 30 * 86_400, NOW - 29 * 86_400, 60, TIERS, NOW, 1000)
    assert (old.resolution, old.step) == (3600, 3600)
    assert "stored at 3600 s resolution" in old.notes[0]
    odd = plan(NOW - 600, NOW, 15, TIERS, NOW, 1000)
    assert odd.step == 20 and odd.start % 10 == 0


def test_tiers_must_be_multiples_of_the_interval() -> None:
    assert [t.resolution for t in check_tiers([TIERS[1], TIERS[0]])] == [10, 3600]
    with pytest.raises(ValueError, match="multiple"):
        check_tiers([Tier(10, 100), Tier(25, 1000)])
    with pytest.raises(ValueError, match="at least 1 second"):
        check_tiers([Tier(0, 100)])


def _point(process: str, start: int, version: int | None, ok: int, peak: int = 0) -> Point:
    point = Point(start, process, "svc-id", version, "svc")
    point.statuses = [0, ok, 0, 1, 0]
    point.buckets[histogram.bucket_of(0.01)] = ok + 1
    point.latency_sum = 0.01 * (ok + 1)
    point.inflight_peak = peak
    return point


def test_series_add_processes_and_intervals() -> None:
    start = int(NOW // 10 * 10) - 60
    window = plan(start, start + 60, 30, TIERS, NOW, 1000)
    points = [
        _point("a", start, 1, 5, peak=2),
        _point("b", start, 1, 3, peak=3),  # same interval, another process: peaks add
        _point("a", start + 10, 1, 1, peak=4),  # later interval of the same step
        _point("a", start + 30, 2, 7),
        Point(start, "a", "", None, cpu_seconds=3.0, memory_bytes=100),
        Point(start + 10, "a", "", None, cpu_seconds=1.5, memory_bytes=300),
        Point(start, "b", "", None, cpu_seconds=0.5, memory_bytes=50),
        Point(start, "c", "", None, cpu_seconds=9.0, memory_bytes=999),  # served nothing
    ]
    by_version = series(points, window)
    assert list(by_version) == [1, 2]
    first, second = by_version[1]
    assert first.requests == (5 + 1) + (3 + 1) + (1 + 1)
    assert first.statuses[3] == 3 and sum(first.buckets) == 12
    assert first.throughput == pytest.approx(12 / 30)
    assert first.inflight_peak == 5  # max(2 + 3, 4)
    assert first.cpu_seconds == pytest.approx(5.0)  # a: 3 + 1.5, b: 0.5; c excluded
    assert first.cpu_percent == pytest.approx(100 * 5.0 / 30)
    assert first.memory_bytes == 350  # a's largest (300) + b's (50)
    assert second.requests == 0 and second.quantile(0.5) is None
    assert by_version[2][1].requests == 8 and by_version[2][0].requests == 0


@pytest.mark.parametrize("span", [60, 3599, 86_400, 6 * 86_400 + 7, 30 * 86_400])
@pytest.mark.parametrize("cap", [1, 7, 100, 1000])
def test_plan_never_answers_more_points_than_the_cap(span: int, cap: int) -> None:
    window = plan(NOW - span, NOW - 0.5, 10, TIERS, NOW, cap)
    assert 1 <= window.count <= cap
    assert window.step % window.resolution == 0
    assert window.start <= NOW - span and window.end >= NOW - 0.5
