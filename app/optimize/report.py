"""The report of an optimization: p50 latency before and after on the sample input, the
speed-up, file sizes, and output agreement on N samples (max absolute difference; top-1
agreement when the first floating output looks like class scores)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.optimize.inputs import Sample
from app.optimize.runners import Outputs, Runner

WARMUP = 3


@dataclass(frozen=True, slots=True)
class Measured:
    p50_ms: float
    outputs: list[Outputs]


def measure(run: Runner, example: Sample, samples: list[Sample], repeats: int) -> Measured:
    """Blocking: p50 of ``repeats`` timed runs on ``example``, and the outputs of every
    sample."""
    for _ in range(WARMUP):
        run(example)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(example)
        timings.append(time.perf_counter() - start)
    return Measured(float(np.median(timings)) * 1000.0, [run(s) for s in samples])


def compare(
    before: Measured,
    after: Measured,
    *,
    size_before: int,
    size_after: int,
    batch_size: int,
    generated: bool,
    repeats: int,
) -> dict[str, Any]:
    max_diff = 0.0
    agree = rows = 0
    classifier = ""
    for old, new in zip(before.outputs, after.outputs, strict=True):
        shared = [name for name in old if name in new]
        if not shared:
            raise ValueError(f"the outputs changed names: {sorted(old)} -> {sorted(new)}")
        for name in shared:
            max_diff = max(max_diff, _max_abs_diff(old[name], new[name]))
        scores = next((n for n in shared if _is_scores(old[n])), "")
        if scores:
            classifier = scores
            same = np.argmax(old[scores], axis=-1) == np.argmax(new[scores], axis=-1)
            agree += int(np.sum(same))
            rows += int(same.size)
    speedup = before.p50_ms / after.p50_ms if after.p50_ms > 0 else math.inf
    return {
        "latency_p50_ms_before": round(before.p50_ms, 6),
        "latency_p50_ms_after": round(after.p50_ms, 6),
        "speedup": round(speedup, 4) if math.isfinite(speedup) else None,
        "size_before": size_before,
        "size_after": size_after,
        "samples": len(before.outputs),
        "batch_size": batch_size,
        "repeats": repeats,
        "input": "generated" if generated else "given",
        "max_abs_diff": max_diff if math.isfinite(max_diff) else None,
        "top1_agreement": agree / rows if rows else None,
        "classifier_output": classifier or None,
    }


def _max_abs_diff(old: np.ndarray, new: np.ndarray) -> float:
    if old.shape != new.shape:
        raise ValueError(f"an output changed shape: {list(old.shape)} -> {list(new.shape)}")
    if old.dtype.kind not in "biuf" or new.dtype.kind not in "biuf":
        return 0.0 if np.array_equal(old, new) else math.inf
    a, b = old.astype(np.float64), new.astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan, 0.0, np.abs(a - b))
    return float(np.nan_to_num(diff, nan=math.inf).max()) if diff.size else 0.0


def _is_scores(array: np.ndarray) -> bool:
    return array.dtype.kind == "f" and array.ndim >= 2 and array.shape[-1] >= 2
