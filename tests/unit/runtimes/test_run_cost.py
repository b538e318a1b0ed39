"""When a run is cheap enough for the event loop's thread: probes, and runs since."""

from __future__ import annotations

import pytest

from app.serving.runtimes._run_cost import INLINE_SECONDS, RunCost

US = 1e-6


def test_probes_give_a_fixed_and_a_per_row_cost() -> None:
    cost = RunCost.from_probes(10 * US, 73 * US, rows=64)
    assert cost.per_row == pytest.approx(1 * US)
    assert cost.fixed == pytest.approx(9 * US)
    assert cost.seconds(100) == pytest.approx(109 * US)


def test_a_bigger_probe_that_ran_faster_still_costs_something_per_row() -> None:
    cost = RunCost.from_probes(64 * US, 50 * US, rows=64)  # noise
    assert cost.per_row == pytest.approx(1 * US)
    assert cost.seconds(1) == pytest.approx(64 * US)
    assert not cost.inline(50_000)  # a big batch job's chunk stays off the event loop
    assert RunCost.from_probes(10 * US, None) == RunCost(10 * US, 0.0)


def test_runs_within_the_budget_are_inline() -> None:
    cost = RunCost(fixed=10 * US, per_row=1 * US)
    rows = int((INLINE_SECONDS - 10 * US) / US)
    assert cost.inline(1)
    assert cost.inline(rows - 1)
    assert not cost.inline(rows + 1)


def test_one_slow_run_does_not_send_a_fast_model_to_the_thread() -> None:
    cost = RunCost(fixed=10 * US, per_row=0.0)
    cost.observed(1, 2000 * US)  # the thread was descheduled mid-run
    assert cost.inline(1)
    for _ in range(100):
        cost.observed(1, 10 * US)
    assert cost.scale == pytest.approx(1.0, abs=0.05)


def test_a_model_slower_than_probed_goes_to_the_thread_and_comes_back() -> None:
    cost = RunCost(fixed=10 * US, per_row=0.0)
    runs = 0
    while cost.inline(1):
        cost.observed(1, 1000 * US)  # its real inputs cost 100 times the zeros
        runs += 1
    assert 1 < runs <= 10
    while not cost.inline(1):  # timed in the thread, its runs are fast again
        cost.observed(1, 10 * US)
        runs += 1
    assert runs < 200
