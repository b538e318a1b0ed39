"""The model cache's work on disk (blocking; the cache runs it on worker threads): checking a
copy against its manifest, sealing a copy read-only, removing one, sweeping what a crashed
process left behind.

Nothing here follows a symbolic link: a link inside a copy is a difference, and permissions
are changed only on what ``lstat`` shows is a real folder or file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

FILE_MODE = 0o444
DIR_MODE = 0o555
# A file's stat is trusted in place of its hash only when the file had not changed for this
# long when hashing began: a later rewrite then always shows as a new ctime.
SETTLED_NS = 1_000_000_000

# (device, inode, size, mtime_ns, ctime_ns, mode) of a file hashed before.
Stamp = tuple[int, int, int, int, int, int]


class ManifestEntry(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...


@dataclass
class Check:
    """What a check of a copy found: the paths that differ, each with why (empty: intact),
    and the folder's inode, so that only the copy that was checked is discarded."""

    differences: list[str] = field(default_factory=list)
    inode: tuple[int, int] | None = None


def stamp(st: os.stat_result) -> Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


def check(folder: Path, files: Sequence[ManifestEntry], hashed: dict[str, Stamp]) -> Check:
    """``folder`` against the manifest: every file's size, sha256 and read-only mode, no
    other files, folders or links. ``hashed`` holds the stamps of files found intact
    before (keyed by path in the folder); it is updated as files are hashed."""
    try:
        top = os.lstat(folder)
    except FileNotFoundError:
        return Check(["(the folder is missing)"])
    result = Check(inode=(top.st_dev, top.st_ino))
    if not stat.S_ISDIR(top.st_mode):
        result.differences.append("(not a folder)")
        return result
    wanted = {entry.path: entry for entry in files}
    folders = {str(parent) for path in wanted for parent in Path(path).parents}
    if stat.S_IMODE(top.st_mode) != DIR_MODE:
        result.differences.append("(the folder): writable")
    seen = set()
    try:
        for relative, st in _walk(folder):
            entry = wanted.get(relative)
            if stat.S_ISDIR(st.st_mode) and relative in folders:
                if stat.S_IMODE(st.st_mode) != DIR_MODE:
                    result.differences.append(f"{relative}/: writable")
            elif entry is not None and stat.S_ISREG(st.st_mode):
                seen.add(relative)
                why = _file_differs(folder / relative, entry, st, hashed, relative)
                if why:
                    result.differences.append(f"{relative}: {why}")
            else:
                result.differences.append(f"{relative}: not in the manifest")
    except OSError as exc:  # changed under the walk (a file became a link, a folder went)
        result.differences.append(f"(unreadable: {exc.strerror})")
        return result
    result.differences.extend(f"{path}: missing" for path in sorted(wanted.keys() - seen))
    return result


def _walk(folder: Path, relative: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """Every entry under ``folder`` (path relative to it, lstat), without following links."""
    with os.scandir(folder / relative if relative else folder) as entries:
        for item in sorted(entries, key=lambda e: e.name):
            path = f"{relative}/{item.name}" if relative else item.name
            st = item.stat(follow_symlinks=False)
            yield path, st
            if stat.S_ISDIR(st.st_mode):
                yield from _walk(folder, path)


def _file_differs(
    path: Path, entry: ManifestEntry, st: os.stat_result, hashed: dict[str, Stamp], key: str
) -> str | None:
    if st.st_size != entry.size:
        return f"size {st.st_size}, manifest {entry.size}"
    if stat.S_IMODE(st.st_mode) != FILE_MODE:
        return "writable"
    if hashed.get(key) == stamp(st):
        return None
    hashed.pop(key, None)
    started = time.time_ns()
    # The file may have become a link or a pipe since it was listed: not followed, not
    # waited on.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            return "not a file"
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        after = os.fstat(fd)
    if digest != entry.sha256:
        return "content differs from the manifest's sha256"
    # Changed while it was read, or changed too recently for the ctime to tell: hashed
    # again next time.
    if stamp(before) == stamp(after) == stamp(st) and st.st_ctime_ns < started - SETTLED_NS:
        hashed[key] = stamp(st)
    return None


def seal(folder: Path) -> None:
    """Files 0o444, folders 0o555, innermost first."""
    for top, dirs, names in os.walk(folder, topdown=False):
        for name in names:
            _chmod(Path(top) / name, FILE_MODE, folder=False)
        for name in dirs:
            _chmod(Path(top) / name, DIR_MODE, folder=True)
    _chmod(folder, DIR_MODE, folder=True)


def unseal(folder: Path) -> None:
    """Folders writable by their owner again, so that their entries can be removed or added."""
    _chmod(folder, 0o755, folder=True)
    for top, dirs, _ in os.walk(folder):
        for name in dirs:
            _chmod(Path(top) / name, 0o755, folder=True)


def _chmod(path: Path, mode: int, *, folder: bool) -> None:
    """chmod only a real folder (or file): never through a link, which chmod would follow."""
    kind = os.lstat(path).st_mode
    if stat.S_ISDIR(kind) if folder else stat.S_ISREG(kind):
        os.chmod(path, mode)


def remove(path: Path) -> None:
    """Delete a copy (sealed or not), or whatever else stands at ``path``; gone already is fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        path.unlink(missing_ok=True)
        return
    with contextlib.suppress(FileNotFoundError):
        unseal(path)
    shutil.rmtree(path, ignore_errors=True)


def writable_copy(package: Path, folder: Path) -> None:
    """A copy of a cache entry that its new owner may change (the entry is read-only)."""
    shutil.copytree(package, folder, copy_function=shutil.copyfile)
    unseal(folder)


def sweep(root: Path, prefixes: tuple[str, ...], stale_seconds: float) -> list[str]:
    """Remove the folders under ``root`` named with ``prefixes`` in which nothing changed for
    ``stale_seconds`` (a crashed process's downloads and discarded copies); their names."""
    swept: list[str] = []
    now = time.time()
    try:
        names = [name for name in os.listdir(root) if name.startswith(prefixes)]
    except FileNotFoundError:
        return swept
    for name in names:
        try:
            if now - _newest_change(root / name) < stale_seconds:
                continue
        except OSError:  # removed meanwhile by another process, or not ours to read
            continue
        remove(root / name)
        swept.append(name)
    return swept


def _newest_change(path: Path) -> float:
    top = os.lstat(path)
    newest = top.st_mtime
    if stat.S_ISDIR(top.st_mode):
        for _, st in _walk(path):
            newest = max(newest, st.st_mtime)
    return newest
