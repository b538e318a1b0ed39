"""The step kinds: one small frozen dataclass each, as data plus its column algebra.

A step knows which columns it reads, what column list it leaves (``outputs``), which
columns it needs upstream to produce a given set (``needs``), and how to transform one
chunk (``transform``, raising ValueError on data it cannot handle).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from app.batch import _cast
from app.batch._cast import Scalar


@dataclass(frozen=True, slots=True)
class _Base:
    kind: ClassVar[str]

    def reads(self) -> tuple[str, ...]:
        """Columns that must exist when the step runs."""
        return ()

    def outputs(self, columns: list[str]) -> list[str]:
        """The columns after the step, given those before (missing reads are ignored)."""
        return list(columns)

    def needs(self, after: set[str]) -> set[str]:
        """Columns needed before the step so that ``after`` exist after it."""
        return after | set(self.reads())

    def collisions(self, columns: list[str]) -> list[str]:
        """Columns the step would create that already exist."""
        return []

    def params(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.params()}

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _ColumnStep(_Base):
    """A step that rewrites one column in place."""

    column: str

    def reads(self) -> tuple[str, ...]:
        return (self.column,)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy(deep=False)
        out[self.column] = self.convert(frame[self.column])
        return out

    def convert(self, series: pd.Series[Any]) -> pd.Series[Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Select(_Base):
    kind: ClassVar[str] = "select"
    columns: tuple[str, ...]

    def reads(self) -> tuple[str, ...]:
        return self.columns

    def outputs(self, columns: list[str]) -> list[str]:
        return list(self.columns)

    def needs(self, after: set[str]) -> set[str]:
        return set(self.columns)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[list(self.columns)]


@dataclass(frozen=True, slots=True)
class Rename(_Base):
    kind: ClassVar[str] = "rename"
    mapping: Mapping[str, str]

    def reads(self) -> tuple[str, ...]:
        return tuple(self.mapping)

    def outputs(self, columns: list[str]) -> list[str]:
        return [self.mapping.get(c, c) for c in columns]

    def needs(self, after: set[str]) -> set[str]:
        sources = {new: old for old, new in self.mapping.items()}
        kept = {sources.get(c, c) for c in after if c in sources or c not in self.mapping}
        return kept | set(self.mapping)

    def collisions(self, columns: list[str]) -> list[str]:
        staying = set(columns) - set(self.mapping)
        return [new for new in self.mapping.values() if new in staying]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.rename(columns=dict(self.mapping))


@dataclass(frozen=True, slots=True)
class Drop(_Base):
    kind: ClassVar[str] = "drop"
    columns: tuple[str, ...]

    def reads(self) -> tuple[str, ...]:
        return self.columns

    def outputs(self, columns: list[str]) -> list[str]:
        return [c for c in columns if c not in self.columns]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(columns=list(self.columns))


@dataclass(frozen=True, slots=True)
class Cast(_ColumnStep):
    kind: ClassVar[str] = "cast"
    dtype: str

    def convert(self, series: pd.Series[Any]) -> pd.Series[Any]:
        return _cast.cast(series, self.dtype, self.column)


@dataclass(frozen=True, slots=True)
class FillMissing(_ColumnStep):
    """Fill missing values with ``value``, or with the column's mean over the whole input
    (``strategy="mean"``), which a statistics pass must resolve before the step runs."""

    kind: ClassVar[str] = "fill_missing"
    value: Scalar | None = None
    strategy: Literal["constant", "mean"] = "constant"

    def params(self) -> dict[str, Any]:
        if self.strategy == "mean":
            return {"column": self.column, "strategy": "mean"}
        return {"column": self.column, "value": self.value}

    def convert(self, series: pd.Series[Any]) -> pd.Series[Any]:
        if self.strategy == "mean" or self.value is None:
            raise ValueError(
                f"the mean of column {self.column!r} is not known: run the statistics pass "
                "(app.batch.statistics.StatisticsPass) and use its resolved steps"
            )
        return _cast.fill(series, self.value)


@dataclass(frozen=True, slots=True)
class StandardScale(_ColumnStep):
    kind: ClassVar[str] = "standard_scale"
    mean: float
    std: float

    def convert(self, series: pd.Series[Any]) -> pd.Series[Any]:
        _cast.require_numbers(series, self.column)
        return (series - self.mean) / self.std


@dataclass(frozen=True, slots=True)
class MinMaxScale(_ColumnStep):
    """Map [min, max] onto [0, 1]; values outside the range land outside [0, 1] (add a
    clip step to bound them)."""

    kind: ClassVar[str] = "min_max_scale"
    min: float
    max: float

    def convert(self, series: pd.Series[Any]) -> pd.Series[Any]:
        _cast.require_numbers(series, self.column)
        return (series - self.min) / (self.max - self.min)


@dataclass(frozen=True, slots=True)
class Clip(_ColumnStep):
    """Bound values to [lower, upper]; a None bound is open."""

    kind: ClassVar[str] = "clip"
    lower: float | None = None
    upper: float | None = None

    def convert(self, series: pd.Series[Any]) -> pd.Series[Any]:
        _cast.require_numbers(series, self.column)
        return series.clip(lower=self.lower, upper=self.upper)


@dataclass(frozen=True, slots=True)
class OneHot(_Base):
    """Replace ``column`` by one indicator column ``<column>_<category>`` per category, in
    place. Values compare by equality, so categories take the column's type; unknown and
    missing values give all zeros."""

    kind: ClassVar[str] = "one_hot"
    column: str
    categories: tuple[Scalar, ...]
    dtype: str = "float32"

    def new_columns(self) -> list[str]:
        return [f"{self.column}_{category}" for category in self.categories]

    def reads(self) -> tuple[str, ...]:
        return (self.column,)

    def outputs(self, columns: list[str]) -> list[str]:
        if self.column not in columns:
            return list(columns)
        at = columns.index(self.column)
        return [*columns[:at], *self.new_columns(), *columns[at + 1 :]]

    def needs(self, after: set[str]) -> set[str]:
        return (after - set(self.new_columns())) | {self.column}

    def collisions(self, columns: list[str]) -> list[str]:
        return [c for c in self.new_columns() if c in columns]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        series = frame[self.column]
        indicators = pd.DataFrame(
            {
                name: series.isin([category]).astype(np.dtype(self.dtype))
                for name, category in zip(self.new_columns(), self.categories, strict=True)
            },
            index=frame.index,
        )
        at = list(frame.columns).index(self.column)
        return pd.concat([frame.iloc[:, :at], indicators, frame.iloc[:, at + 1 :]], axis=1)


Step = Select | Rename | Drop | Cast | FillMissing | StandardScale | MinMaxScale | Clip | OneHot

KINDS: dict[str, type[Step]] = {
    cls.kind: cls
    for cls in (Select, Rename, Drop, Cast, FillMissing, StandardScale, MinMaxScale, Clip, OneHot)
}


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value
