"""Errors of the package layer."""

from __future__ import annotations


class UnsafeArchive(ValueError):
    """An archive that cannot be extracted safely; ``entry`` is the offending entry's name."""

    def __init__(self, message: str, entry: str | None = None) -> None:
        super().__init__(message)
        self.entry = entry
