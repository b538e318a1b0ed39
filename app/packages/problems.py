"""What a package check reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a package.

    ``path`` is the file's POSIX path relative to the package root, or ``""`` when the
    problem is about the package as a whole (e.g. a missing file).
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message
