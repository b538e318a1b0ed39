"""The statistics pass: whole-input values that some steps need before any chunk runs.

``fill_missing`` with ``strategy: "mean"`` fills with the mean of the column over the
WHOLE input, as the column reaches that step (after the steps before it). A chunk alone
cannot know it, so a run that needs it reads the input twice::

    stats = StatisticsPass(steps)
    if stats.needed:
        async for chunk in iter_input(...):
            stats.update(chunk.frame)
    steps = stats.resolve()      # mean fills become constant fills with the mean

Memory stays bounded: the pass keeps a sum and a count per mean fill. During the pass a
mean fill leaves the column's missing values at 0 for the steps after it; that cannot
change a later mean, because after the fill the column has no missing values left.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from app.batch._cast import require_numbers
from app.batch._step_kinds import FillMissing, Step
from app.batch.errors import StepFailed
from app.batch.steps import apply_steps

_KIND = FillMissing.kind


@dataclass
class _Sum:
    column: str
    total: float = 0.0
    count: int = 0


class StatisticsPass:
    def __init__(self, steps: Sequence[Step]) -> None:
        self._steps = list(steps)
        self._sums = {
            index: _Sum(step.column)
            for index, step in enumerate(self._steps)
            if isinstance(step, FillMissing) and step.strategy == "mean"
        }
        # The placeholder chain the pass runs: mean fills fill with 0 (see the module doc).
        self._placeholders = [
            FillMissing(self._sums[index].column, value=0) if index in self._sums else step
            for index, step in enumerate(self._steps)
        ]
        self._rows = 0

    @property
    def needed(self) -> bool:
        """Whether any step needs the pass; when not, :meth:`resolve` returns the steps."""
        return bool(self._sums)

    @property
    def rows(self) -> int:
        return self._rows

    def update(self, frame: pd.DataFrame) -> None:
        """Add one chunk (raw, before any step)."""
        self._rows += len(frame)
        if not self._sums:
            return
        start = 0
        for index, acc in sorted(self._sums.items()):
            frame = apply_steps(self._placeholders[start:index], frame, first_index=start)
            start = index
            if acc.column not in frame.columns:
                raise StepFailed(index, _KIND, f"column {acc.column!r} is not there")
            series = frame[acc.column]
            try:
                require_numbers(series, acc.column)
            except ValueError as exc:
                raise StepFailed(index, _KIND, f"cannot take the mean: {exc}") from exc
            # float64 so that float32 columns keep precision and int64 sums cannot wrap.
            values = series.dropna().astype("float64")
            acc.total += float(values.sum())
            acc.count += len(values)

    def means(self) -> dict[int, float]:
        """Step index -> the mean of the column at that step over every chunk so far."""
        found: dict[int, float] = {}
        for index, acc in self._sums.items():
            if acc.count == 0:
                raise StepFailed(
                    index, _KIND, f"column {acc.column!r} has no values to take the mean of"
                )
            mean = acc.total / acc.count
            if not math.isfinite(mean):
                raise StepFailed(index, _KIND, f"the mean of column {acc.column!r} is {mean}")
            found[index] = mean
        return found

    def resolve(self) -> list[Step]:
        """The steps with every mean fill turned into a constant fill with its mean."""
        means = self.means()
        return [
            FillMissing(self._sums[index].column, value=means[index]) if index in means else step
            for index, step in enumerate(self._steps)
        ]
