"""Declarative, ordered preprocessing steps.

A chain is a list of steps, each written as ``{"kind": ..., **params}``:

- ``select`` ``columns`` · ``drop`` ``columns`` · ``rename`` ``mapping`` (old -> new)
- ``cast`` ``column``, ``dtype`` (float32, float64, int32, int64, string, bool)
- ``fill_missing`` ``column`` and ``value``, or ``strategy: "mean"`` (whole-input mean,
  resolved by :class:`app.batch.statistics.StatisticsPass` before the chunks run)
- ``standard_scale`` ``column``, ``mean``, ``std`` · ``min_max_scale`` ``column``, ``min``,
  ``max`` (to [0, 1]) · ``clip`` ``column``, ``lower`` and/or ``upper``
- ``one_hot`` ``column``, ``categories`` (, ``dtype``): replaces the column by
  ``<column>_<category>`` indicators; unknown values give all zeros

Each step reads the output of the one before it, so removing a step reconnects the chain
around it; :func:`check_columns` then says whether every step still finds its columns.
All functions here are pure: editing returns a new list and never changes the input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from app.batch._step_kinds import (
    KINDS,
    Cast,
    Clip,
    Drop,
    FillMissing,
    MinMaxScale,
    OneHot,
    Rename,
    Select,
    StandardScale,
    Step,
)
from app.batch._step_validation import parse_step
from app.batch.errors import StepFailed, StepsError

__all__ = [
    "KINDS",
    "Cast",
    "Clip",
    "Drop",
    "FillMissing",
    "MinMaxScale",
    "OneHot",
    "Rename",
    "Select",
    "StandardScale",
    "Step",
    "add_step",
    "apply_steps",
    "check_columns",
    "dump_steps",
    "edit_step",
    "move_step",
    "output_columns",
    "parse_steps",
    "remove_step",
    "required_columns",
]


def parse_steps(raw: Sequence[object]) -> list[Step]:
    """Validate raw step dicts; raise :class:`StepsError` listing every problem."""
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise StepsError([f"steps must be a list of objects, got {type(raw).__name__}"])
    steps: list[Step] = []
    problems: list[str] = []
    for index, item in enumerate(raw):
        step, found = parse_step(item, index)
        problems.extend(found)
        if step is not None:
            steps.append(step)
    if problems:
        raise StepsError(problems)
    return steps


def dump_steps(steps: Sequence[Step]) -> list[dict[str, Any]]:
    """The raw form of ``steps``; ``parse_steps(dump_steps(s)) == s``."""
    return [step.to_dict() for step in steps]


# -- editing -------------------------------------------------------------------------------


def add_step(
    steps: Sequence[Step], step: Step | Mapping[str, Any], index: int | None = None
) -> list[Step]:
    """A new chain with ``step`` (a step or its raw dict, validated either way) inserted
    before ``index`` (appended when None)."""
    at = len(steps) if index is None else _check_index(steps, index, allow_end=True)
    raw = step if isinstance(step, Mapping) else step.to_dict()
    return [*steps[:at], _parse_one(raw, at), *steps[at:]]


def remove_step(steps: Sequence[Step], index: int) -> list[Step]:
    """A new chain without the step at ``index``; the next step now reads the output of
    the previous one."""
    at = _check_index(steps, index)
    return [*steps[:at], *steps[at + 1 :]]


def move_step(steps: Sequence[Step], from_index: int, to_index: int) -> list[Step]:
    """A new chain with the step at ``from_index`` moved so that it ends at ``to_index``."""
    source = _check_index(steps, from_index)
    target = _check_index(steps, to_index)
    rest = [*steps[:source], *steps[source + 1 :]]
    return [*rest[:target], steps[source], *rest[target:]]


def edit_step(steps: Sequence[Step], index: int, params: Mapping[str, Any]) -> list[Step]:
    """A new chain whose step at ``index`` has the complete new ``params`` (its kind is
    kept unless ``params`` names another one); raises :class:`StepsError` when invalid."""
    at = _check_index(steps, index)
    raw = {"kind": steps[at].kind, **params}
    return [*steps[:at], _parse_one(raw, at), *steps[at + 1 :]]


def _parse_one(raw: Mapping[str, Any], index: int) -> Step:
    step, problems = parse_step(raw, index)
    if step is None:
        raise StepsError(problems)
    return step


def _check_index(steps: Sequence[Step], index: int, *, allow_end: bool = False) -> int:
    top = len(steps) if allow_end else len(steps) - 1
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= top:
        count = "1 step" if len(steps) == 1 else f"{len(steps)} steps"
        raise IndexError(f"no step position {index!r}: the chain has {count}")
    return index


# -- columns -------------------------------------------------------------------------------


def check_columns(steps: Sequence[Step], columns: Sequence[str]) -> list[str]:
    """Walk the chain from the input ``columns`` and return every problem: a step that
    reads a column which is not there, or that would create one which already is."""
    current = list(columns)
    problems: list[str] = []
    for index, step in enumerate(steps):
        where = f"step {index} ({step.kind})"
        available = set(current)
        for name in step.reads():
            if name not in available:
                problems.append(
                    f"{where} reads column {name!r}, which is not there "
                    f"(available: {_names(current)})"
                )
        for name in step.collisions(current):
            problems.append(f"{where} would create column {name!r}, which already exists")
        current = step.outputs(current)
    return problems


def output_columns(steps: Sequence[Step], columns: Sequence[str]) -> list[str]:
    """The columns the chain leaves, given the input ``columns``."""
    current = list(columns)
    for step in steps:
        current = step.outputs(current)
    return current


def required_columns(steps: Sequence[Step], available: Sequence[str]) -> list[str]:
    """The input columns the chain needs: those it reads and those that reach its output.

    Listed in ``available`` order, followed by needed columns that are not available (in
    the order the chain first needs them); a reader may load only these."""
    needed = set(output_columns(steps, available))
    first_use: list[str] = []
    for step in reversed(steps):
        needed = step.needs(needed)
        first_use = [*step.reads(), *first_use]
    missing = [c for c in dict.fromkeys(first_use) if c in needed and c not in available]
    return [c for c in available if c in needed] + missing


# -- data ----------------------------------------------------------------------------------


def apply_steps(
    steps: Sequence[Step], frame: pd.DataFrame, *, first_index: int = 0
) -> pd.DataFrame:
    """Run the chain on one chunk and return the new frame (``frame`` is not changed).

    Raises :class:`StepFailed` naming the step when it cannot handle the data, and when a
    column it reads is missing (call :func:`check_columns` first for every problem).
    ``first_index`` numbers the steps in messages when ``steps`` is part of a chain."""
    for index, step in enumerate(steps, start=first_index):
        missing = [c for c in step.reads() if c not in frame.columns]
        if missing:
            raise StepFailed(index, step.kind, f"column {missing[0]!r} is not there")
        try:
            frame = step.transform(frame)
        except (ValueError, TypeError) as exc:
            raise StepFailed(index, step.kind, str(exc)) from exc
    return frame


def _names(columns: Sequence[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:20])
    return shown + (f" and {len(columns) - 20} more" if len(columns) > 20 else "") or "none"
