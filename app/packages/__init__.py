"""A version's package: safe extraction of uploaded archives and checks of its files."""

from __future__ import annotations

from app.packages.archive import (
    DEFAULT_LIMITS,
    ArchiveLimits,
    archive_kind,
    extract_archive,
    is_archive,
)
from app.packages.checks import check_package
from app.packages.errors import UnsafeArchive
from app.packages.file_names import UnsafeName, check_file_name
from app.packages.problems import Problem

__all__ = [
    "DEFAULT_LIMITS",
    "ArchiveLimits",
    "Problem",
    "UnsafeArchive",
    "UnsafeName",
    "archive_kind",
    "check_file_name",
    "check_package",
    "extract_archive",
    "is_archive",
]
