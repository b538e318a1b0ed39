"""Validation of raw step dicts (``{"kind": ..., **params}``) into step values.

Every problem of every step is collected, so one error lists all of them. Steps are
numbered from 0, like the list indices the editing helpers take.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from app.batch._cast import DTYPES
from app.batch._step_kinds import KINDS, Step

# A checker returns the converted value, or raises _Bad with what is wrong.
Checker = Callable[[Any], Any]
_ONE_HOT_DTYPES = ("float32", "float64", "int32", "int64", "bool")


class _Bad(Exception):
    pass


def _column(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _Bad(f"must be a non-empty string, got {_describe(value)}")
    return value


def _columns(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _Bad(f"must be a non-empty list of column names, got {_describe(value)}")
    bad = [f"{i} ({_describe(v)})" for i, v in enumerate(value) if not isinstance(v, str) or not v]
    if bad:
        raise _Bad(f"must hold non-empty strings; not at position {', '.join(bad)}")
    _check_unique(value)
    return tuple(value)


def _mapping(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise _Bad(f"must be a non-empty object of old name -> new name, got {_describe(value)}")
    bad = [repr(old) for old, new in value.items() if not isinstance(new, str) or not new]
    if "" in value:
        bad.insert(0, "'' (an empty old name)")
    if bad:
        raise _Bad(f"must map to non-empty strings; not for {', '.join(bad)}")
    _check_unique(list(value.values()), "new name")
    return dict(value)


def _choice(*allowed: str) -> Checker:
    def check(value: Any) -> str:
        if value not in allowed:
            raise _Bad(f"must be one of {', '.join(allowed)}; got {_describe(value)}")
        return str(value)

    return check


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"must be a number, got {_describe(value)}")
    if not math.isfinite(value):
        raise _Bad(f"must be a finite number, got {value!r}")
    return float(value)


def _optional_number(value: Any) -> float | None:
    return None if value is None else _number(value)


def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad(f"must be finite, got {value!r}")
    if not isinstance(value, str | int | float | bool):
        raise _Bad(f"must be a string, number or boolean, got {_describe(value)}")
    return value


def _categories(value: Any) -> tuple[str | int | float | bool, ...]:
    if not isinstance(value, list) or not value:
        raise _Bad(f"must be a non-empty list of categories, got {_describe(value)}")
    categories = tuple(_scalar(v) for v in value)
    _check_unique([str(c) for c in categories], "category")
    return categories


def _check_unique(values: list[str], what: str = "column") -> None:
    seen: set[str] = set()
    repeated: dict[str, None] = {}
    for value in values:
        if value in seen:
            repeated[value] = None
        seen.add(value)
    if repeated:
        raise _Bad(f"repeats the {what} {', '.join(map(repr, repeated))}")


# kind -> parameter -> (required, checker)
_SPECS: dict[str, dict[str, tuple[bool, Checker]]] = {
    "select": {"columns": (True, _columns)},
    "rename": {"mapping": (True, _mapping)},
    "drop": {"columns": (True, _columns)},
    "cast": {"column": (True, _column), "dtype": (True, _choice(*DTYPES))},
    "fill_missing": {
        "column": (True, _column),
        "value": (False, _scalar),
        "strategy": (False, _choice("constant", "mean")),
    },
    "standard_scale": {"column": (True, _column), "mean": (True, _number), "std": (True, _number)},
    "min_max_scale": {"column": (True, _column), "min": (True, _number), "max": (True, _number)},
    "clip": {
        "column": (True, _column),
        "lower": (False, _optional_number),
        "upper": (False, _optional_number),
    },
    "one_hot": {
        "column": (True, _column),
        "categories": (True, _categories),
        "dtype": (False, _choice(*_ONE_HOT_DTYPES)),
    },
}


def _cross_checks(kind: str, params: Mapping[str, Any]) -> list[str]:
    """Rules between parameters, checked once each parameter is valid on its own."""
    if kind == "standard_scale" and params["std"] <= 0:
        return [f"std must be > 0, got {params['std']:g}"]
    if kind == "min_max_scale" and params["min"] >= params["max"]:
        return [f"min must be < max, got min {params['min']:g} and max {params['max']:g}"]
    if kind == "clip":
        lower, upper = params.get("lower"), params.get("upper")
        if lower is None and upper is None:
            return ["needs a lower or an upper bound (or both)"]
        if lower is not None and upper is not None and lower > upper:
            return [f"lower must be <= upper, got lower {lower:g} and upper {upper:g}"]
    if kind == "fill_missing":
        mean = params.get("strategy") == "mean"
        if mean and "value" in params:
            return ["takes no value with strategy 'mean'"]
        if not mean and params.get("value") is None:
            return ["needs a value (or strategy 'mean')"]
    return []


def parse_step(raw: object, index: int) -> tuple[Step | None, list[str]]:
    """One step and its problems (each prefixed with the step's number and kind)."""
    if not isinstance(raw, Mapping):
        return None, [f"step {index}: must be an object with a 'kind', got {_describe(raw)}"]
    kind = raw.get("kind")
    if kind not in _SPECS:
        known = ", ".join(_SPECS)
        got = "no kind" if kind is None else f"unknown kind {kind!r}"
        return None, [f"step {index}: {got}; expected one of: {known}"]
    spec = _SPECS[kind]
    where = f"step {index} ({kind})"
    problems: list[str] = []
    params: dict[str, Any] = {}
    for name in raw:
        if name != "kind" and name not in spec:
            allowed = ", ".join(spec)
            problems.append(f"{where}: unknown parameter {name!r} (allowed: {allowed})")
    for name, (required, check) in spec.items():
        if name not in raw:
            if required:
                problems.append(f"{where}: missing parameter {name!r}")
            continue
        try:
            params[name] = check(raw[name])
        except _Bad as bad:
            problems.append(f"{where}: {name} {bad}")
    if problems:
        return None, problems
    problems = [f"{where}: {p}" for p in _cross_checks(kind, params)]
    if problems:
        return None, problems
    return KINDS[kind](**params), []


def _describe(value: object) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 40 else f"{type(value).__name__} {text[:30]}…"
