from __future__ import annotations

from collections import Counter

import pytest

from app.serving.router import WeightedRouter


def test_ninety_ten_over_ten_thousand_requests() -> None:
    router = WeightedRouter([("v1", 90), ("v2", 10), ("v3", 0)])
    counts = Counter(router.next() for _ in range(10_000))
    assert counts == {"v1": 9000, "v2": 1000}  # exact; the tolerance asked is 2%


def test_shares_stay_close_over_short_windows() -> None:
    router = WeightedRouter([("a", 50), ("b", 30), ("c", 20)])
    window = Counter(router.next() for _ in range(10))
    assert window == {"a": 5, "b": 3, "c": 2}


def test_a_route_needs_a_positive_weight() -> None:
    with pytest.raises(ValueError, match="positive weight"):
        WeightedRouter([("a", 0)])
