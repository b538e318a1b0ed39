"""Traffic split by weights, with smooth weighted round-robin (as nginx does): over any
window the shares match the weights as closely as whole requests allow, and versions with
weight 0 get nothing."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class WeightedRouter(Generic[T]):
    def __init__(self, targets: list[tuple[T, int]]) -> None:
        self.targets = [(target, weight) for target, weight in targets if weight > 0]
        if not self.targets:
            raise ValueError("a route needs at least one target with a positive weight")
        self._total = sum(weight for _, weight in self.targets)
        self._current = [0] * len(self.targets)

    def next(self) -> T:
        best = 0
        for i, (_, weight) in enumerate(self.targets):
            self._current[i] += weight
            if self._current[i] > self._current[best]:
                best = i
        self._current[best] -= self._total
        return self.targets[best][0]
