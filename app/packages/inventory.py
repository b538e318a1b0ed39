"""The files of a package directory, listed once for every check to share."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from app.packages.problems import Problem


@dataclass(frozen=True, slots=True)
class Package:
    root: Path
    # POSIX path relative to root -> size in bytes; regular files only, in sorted order.
    files: dict[str, int]

    def path(self, name: str) -> Path:
        return self.root / name

    def named(self, *suffixes: str) -> list[str]:
        """The files whose names end with one of ``suffixes`` (any letter case)."""
        lowered = tuple(suffix.lower() for suffix in suffixes)
        return [name for name in self.files if name.lower().endswith(lowered)]

    def called(self, basename: str) -> list[str]:
        """The files, at any depth, whose last path part is ``basename``."""
        return [name for name in self.files if PurePosixPath(name).name == basename]

    def candidates(self, *suffixes: str) -> list[str]:
        """Model files: those named with ``suffixes``, else the package's only file."""
        named = self.named(*suffixes)
        if not named and len(self.files) == 1:
            return list(self.files)
        return named

    def head(self, name: str, size: int = 16) -> bytes:
        with open(self.path(name), "rb") as file:
            return file.read(size)


def scan(root: Path) -> tuple[Package, list[Problem]]:
    """List the regular files under ``root``; links and special files are problems."""
    problems: list[Problem] = []
    files: dict[str, int] = {}
    if not root.is_dir():
        missing = "is not a folder" if root.exists() else "does not exist"
        return Package(root, files), [Problem("", f"the package folder {missing}")]
    for folder, dirnames, filenames in os.walk(root):
        base = Path(folder)
        for name in sorted(dirnames):
            if (base / name).is_symlink():  # os.walk does not descend into these
                problems.append(Problem(_relative(root, base / name), "is a symbolic link"))
        for name in filenames:
            path = base / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                problems.append(Problem(_relative(root, path), "is a symbolic link"))
            elif not stat.S_ISREG(info.st_mode):
                problems.append(Problem(_relative(root, path), "is not a regular file"))
            else:
                files[_relative(root, path)] = info.st_size
    return Package(root, dict(sorted(files.items()))), sorted(problems, key=lambda p: p.path)


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
