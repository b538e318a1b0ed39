"""Column conversions behind the ``cast`` and ``fill_missing`` steps.

Each function takes one column and returns a new one, or raises :class:`ValueError` with a
message naming offending values; the step turns it into a :class:`StepFailed`. Casts are
strict: nothing is silently truncated, wrapped or turned into NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

DTYPES = ("float32", "float64", "int32", "int64", "string", "bool")
Scalar = str | int | float | bool

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_SHOWN = 3


def is_number_column(series: pd.Series[Any]) -> bool:
    return ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype)


def require_numbers(series: pd.Series[Any], column: str) -> None:
    if not is_number_column(series):
        raise ValueError(
            f"column {column!r} is not numeric (dtype {series.dtype}); add a cast step first"
        )


def cast(series: pd.Series[Any], dtype: str, column: str) -> pd.Series[Any]:
    if dtype == "string":
        return series.astype("string")
    if dtype == "bool":
        return _to_bool(series, column)
    numbers = _to_numbers(series, column, dtype)
    if dtype.startswith("float"):
        return numbers.astype(np.dtype(dtype))
    return _to_int(numbers, column, dtype)


def fill(series: pd.Series[Any], value: Scalar) -> pd.Series[Any]:
    missing = series.isna()
    if not missing.any():
        return series
    numeric_value = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric_value and ptypes.is_float_dtype(series.dtype):
        return series.fillna(value)
    if isinstance(value, str) and ptypes.is_string_dtype(series.dtype) and series.dtype != object:
        return series.fillna(value)
    # Mixed types (text into a numeric column, a number into text): an object column
    # holds both without pandas' dtype-change warnings.
    filled = series.astype(object).where(~missing, value)
    return filled.infer_objects()


def _to_numbers(series: pd.Series[Any], column: str, dtype: str) -> pd.Series[Any]:
    if ptypes.is_bool_dtype(series.dtype):
        return series.astype("int64")
    if is_number_column(series):
        return series
    numbers = pd.to_numeric(series.astype(object), errors="coerce")
    bad = series[numbers.isna() & series.notna()]
    if len(bad):
        raise ValueError(f"column {column!r} has values that are not {dtype} numbers: {_show(bad)}")
    return numbers


def _to_int(numbers: pd.Series[Any], column: str, dtype: str) -> pd.Series[Any]:
    if ptypes.is_integer_dtype(numbers.dtype):
        values = numbers
    else:
        if numbers.isna().any():
            raise ValueError(
                f"column {column!r} has missing values, which {dtype} cannot hold; "
                "add a fill_missing step before the cast"
            )
        floats = numbers.astype("float64")
        fractional = floats[np.floor(floats) != floats]
        if len(fractional):
            raise ValueError(
                f"column {column!r} has values that are not whole numbers: {_show(fractional)}"
            )
        values = floats
    info = np.iinfo(dtype)
    outside = values[(values < info.min) | (values > info.max)]
    if len(outside):
        raise ValueError(
            f"column {column!r} has values outside the {dtype} range: {_show(outside)}"
        )
    return values.astype(np.dtype(dtype))


def _to_bool(series: pd.Series[Any], column: str) -> pd.Series[Any]:
    if ptypes.is_bool_dtype(series.dtype) and not series.isna().any():
        return series.astype(bool)
    if series.isna().any():
        raise ValueError(
            f"column {column!r} has missing values, which bool cannot hold; "
            "add a fill_missing step before the cast"
        )
    if is_number_column(series):
        return series != 0
    text = series.astype(str).str.strip().str.lower()
    truthy = text.isin(_TRUE)
    bad = series[~truthy & ~text.isin(_FALSE)]
    if len(bad):
        raise ValueError(
            f"column {column!r} has values that are not booleans: {_show(bad)} "
            "(accepted: true/false, t/f, yes/no, y/n, 1/0)"
        )
    return truthy.astype(bool)


def _show(values: pd.Series[Any]) -> str:
    shown = ", ".join(repr(v) for v in values.head(_SHOWN).tolist())
    more = len(values) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown
