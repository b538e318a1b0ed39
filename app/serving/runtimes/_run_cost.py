"""Whether a model run is cheap enough to do on the event loop's own thread.

Handing a run to a thread costs tens of microseconds of wake-ups and GIL hand-offs (far
more on a busy machine); for a small model whose run takes ~10 µs that is most of what a
request costs. Runs whose estimated time is within ``INLINE_SECONDS`` therefore run inline:
they hold the loop no longer than decoding a large request does. Everything else keeps
its thread, so a slow model never stalls the other requests.

The estimate is ``(fixed + per_row * rows) * scale``: ``fixed`` and ``per_row`` come from
probe runs at load, and ``scale`` follows every run since (inline or in the thread) as a
moving average of measured / estimated time. A model whose cost depends on its data goes
to the thread after a few slow runs; one run that only looked slow because the thread was
descheduled moves the estimate a little, and later runs move it back.
"""

from __future__ import annotations

from dataclasses import dataclass

INLINE_SECONDS = 200e-6
# The second probe's rows: the default batch size, the size batched requests reach.
PROBE_ROWS = 64
SMOOTHING = 0.05
MAX_RATIO = 100.0  # one observation moves the scale by at most SMOOTHING * MAX_RATIO


@dataclass
class RunCost:
    """The estimated seconds of one run of ``rows`` rows, and what runs have shown."""

    fixed: float
    per_row: float
    scale: float = 1.0

    @classmethod
    def from_probes(cls, one_row: float, many: float | None, rows: int = PROBE_ROWS) -> RunCost:
        """From the time of a one-row run and of a ``rows``-row run (None: not measured, as
        for a model with a fixed batch size; its cost does not grow with rows then)."""
        if many is None or rows <= 1:
            return cls(one_row, 0.0)
        # Never less than one row's time over ``rows`` per row (``rows`` rows cost at least
        # twice one row): a noisy probe must not make a huge batch look free.
        per_row = max(one_row / rows, (many - one_row) / (rows - 1))
        return cls(max(0.0, one_row - per_row), per_row)

    def seconds(self, rows: int) -> float:
        return (self.fixed + self.per_row * rows) * self.scale

    def inline(self, rows: int) -> bool:
        return self.seconds(rows) <= INLINE_SECONDS

    def observed(self, rows: int, seconds: float) -> None:
        """A run of ``rows`` rows took ``seconds`` (timed around the run itself)."""
        probed = self.fixed + self.per_row * rows
        if probed > 0:
            ratio = min(seconds / probed, MAX_RATIO)
            self.scale += SMOOTHING * (ratio - self.scale)
