"""Errors of the batch package. Each message names what is wrong and where."""

from __future__ import annotations

from collections.abc import Sequence


class BatchError(Exception):
    """Base class of every batch error; ``str(error)`` is the message for the run record."""


class RunFailed(Exception):
    """A run cannot finish; the message is its reason."""


class RunCancelled(Exception):
    """The run was cancelled while it ran."""


class StepsError(BatchError, ValueError):
    """A preprocessing chain that is not valid; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        header = "1 problem" if count == 1 else f"{count} problems"
        super().__init__(f"invalid preprocessing steps ({header}):\n- " + "\n- ".join(problems))


class StepFailed(BatchError):
    """A step could not transform the data of a chunk (values it cannot convert, ...)."""

    def __init__(self, index: int, kind: str, message: str) -> None:
        super().__init__(f"step {index} ({kind}): {message}")
        self.index = index
        self.kind = kind


class MissingColumns(BatchError):
    """An input file lacks columns the preprocessing chain needs."""

    def __init__(self, key: str, columns: Sequence[str]) -> None:
        names = ", ".join(repr(c) for c in columns)
        super().__init__(f"input {key!r} has no column {names}")
        self.key = key
        self.columns = list(columns)


class MalformedInput(BatchError):
    """Input that cannot be parsed: a bad row under ``on_error="fail"``, too many skipped
    rows under ``"skip"``, or a file without the structure its format needs."""
