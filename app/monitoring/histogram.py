"""Latency histograms with fixed, log-spaced bucket bounds.

Every process and every interval uses the same bounds, so histograms add up by adding
their counts: across server processes, across roll-up intervals and across versions. A
bucket is 2^(1/8) (about 9%) wider than the one below it, from 10 µs to about 100 s;
quantiles are interpolated inside a bucket, so they are within about 9% of the truth.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence

LOWEST_SECONDS = 1e-5
STEPS_PER_DOUBLING = 8
DOUBLINGS = 24  # 10 µs * 2^24 ≈ 168 s
# BOUNDS[i] is the upper bound (inclusive) of bucket i; the last bucket is open-ended.
BOUNDS: tuple[float, ...] = tuple(
    LOWEST_SECONDS * 2 ** (i / STEPS_PER_DOUBLING)
    for i in range(DOUBLINGS * STEPS_PER_DOUBLING + 1)
)
BUCKETS = len(BOUNDS) + 1
# Prometheus gets every 8th bound (the powers of two): exact cumulative counts, 25 buckets.
PROMETHEUS_BOUNDS: tuple[int, ...] = tuple(range(0, len(BOUNDS), STEPS_PER_DOUBLING))


def bucket_of(seconds: float) -> int:
    """The index of the bucket holding ``seconds``."""
    return bisect_left(BOUNDS, seconds)


def empty() -> list[int]:
    return [0] * BUCKETS


def add_into(total: list[int], counts: Sequence[int] | Mapping[int, int]) -> None:
    """Add a dense list or a sparse {index: count} mapping into ``total``."""
    items: Iterable[tuple[int, int]] = (
        counts.items() if isinstance(counts, Mapping) else enumerate(counts)
    )
    for index, count in items:
        if count:
            total[index] += count


def sparse(counts: Sequence[int]) -> dict[int, int]:
    """The non-empty buckets, for storage."""
    return {i: c for i, c in enumerate(counts) if c}


def quantile(counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) in seconds, interpolated inside its bucket; None
    for an empty histogram."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if not count:
            continue
        if seen + count >= rank:
            low = BOUNDS[index - 1] if index > 0 else 0.0
            high = BOUNDS[index] if index < len(BOUNDS) else BOUNDS[-1]
            share = (rank - seen) / count
            return low + (high - low) * share
        seen += count
    return BOUNDS[-1]


def cumulative(counts: Sequence[int]) -> list[tuple[float, int]]:
    """(upper bound, count at or below it) at the Prometheus bounds, plus +Inf."""
    out: list[tuple[float, int]] = []
    running = 0
    previous = 0
    for index in PROMETHEUS_BOUNDS:
        running += sum(counts[previous : index + 1])
        previous = index + 1
        out.append((BOUNDS[index], running))
    out.append((float("inf"), running + sum(counts[previous:])))
    return out
