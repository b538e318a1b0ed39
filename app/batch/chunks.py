"""The values readers produce: formats, chunks and their positions, the read report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import pandas as pd

from app.batch.errors import MalformedInput

OnError = Literal["fail", "skip"]
MAX_EXAMPLES = 10


class DataFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"

    @classmethod
    def parse(cls, value: DataFormat | str) -> DataFormat:
        try:
            return cls(value.lower() if isinstance(value, str) else value)
        except ValueError:
            known = ", ".join(f.value for f in cls)
            raise ValueError(f"unknown data format {value!r}; expected one of: {known}") from None

    @property
    def extension(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, order=True)
class ChunkPosition:
    """Where a chunk sits: the index of its file among the input's files (sorted by key)
    and its index within that file. With the same input and ``chunk_rows`` the positions
    are the same on every read, which makes them good part names and resume points."""

    file_index: int
    chunk_index: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive valid rows of one input file; ``frame`` has a fresh 0-based index."""

    frame: pd.DataFrame
    key: str
    file_index: int
    chunk_index: int
    first_row: int  # index of the chunk's first row among the file's valid rows
    skipped: int = 0  # malformed rows skipped since the previous chunk of the file

    @property
    def position(self) -> ChunkPosition:
        return ChunkPosition(self.file_index, self.chunk_index)

    @property
    def rows(self) -> int:
        return len(self.frame)


@dataclass
class ReadReport:
    """What a read went through, filled while it runs."""

    files: list[str] = field(default_factory=list)
    rows: int = 0
    skipped: int = 0
    examples: list[str] = field(default_factory=list)  # the first skipped rows, explained


class RowErrors:
    """The malformed-row policy of one read, shared by all its files."""

    def __init__(self, on_error: OnError, max_skipped: int, report: ReadReport) -> None:
        if on_error not in ("fail", "skip"):
            raise ValueError(f"on_error must be 'fail' or 'skip', not {on_error!r}")
        if isinstance(max_skipped, bool) or not isinstance(max_skipped, int) or max_skipped < 0:
            raise ValueError(f"max_skipped must be an integer >= 0, not {max_skipped!r}")
        self.on_error = on_error
        self.max_skipped = max_skipped
        self.report = report
        self.error: MalformedInput | None = None  # set when a bad row must stop the read

    def bad_row(self, key: str, where: str, reason: str) -> bool:
        """Record a malformed row; True when it is skipped, False when the read must stop
        (then :attr:`error` says why)."""
        described = f"input {key!r} {where}: {reason}"
        if self.on_error == "fail":
            self.error = MalformedInput(f"malformed row in {described} (on_error is 'fail')")
            return False
        self.report.skipped += 1
        if len(self.report.examples) < MAX_EXAMPLES:
            self.report.examples.append(described)
        if self.report.skipped > self.max_skipped:
            self.error = MalformedInput(
                f"too many malformed rows: more than max_skipped={self.max_skipped}; "
                f"the last one: {described}"
            )
            return False
        return True
