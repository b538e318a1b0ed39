"""The zip and tar readers behind :func:`app.packages.archive.extract_archive`."""

from __future__ import annotations

import contextlib
import errno
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

from app.packages.errors import UnsafeArchive
from app.packages.file_names import UnsafeName, collision_key, normalise_name, shown

if TYPE_CHECKING:
    from app.packages.archive import ArchiveLimits

_CHUNK = 1024 * 1024
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_CORRUPT = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError)


class _Ledger:
    """The entries seen so far: rejects a name, count or size before anything is written."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.entries = 0
        self.total = 0
        self.files: list[str] = []
        self._file_keys: dict[str, str] = {}
        self._dir_keys: dict[str, str] = {}

    def entry(self, raw: str, *, is_dir: bool) -> str:
        """The normalised name of the next entry ("" for the root folder itself)."""
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise UnsafeArchive(f"the archive has more than {self.limits.max_entries} entries")
        try:
            name = normalise_name(raw)
        except UnsafeName as exc:
            raise UnsafeArchive(f"entry {shown(raw)}: {exc}", raw) from None
        if not name:
            if is_dir:
                return ""
            raise UnsafeArchive(f"entry {shown(raw)}: the name does not name a file", raw)
        key = collision_key(name)
        parts = key.split("/")
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        for parent in parents:
            if parent in self._file_keys:
                raise UnsafeArchive(
                    f"entry {shown(raw)} is inside {shown(self._file_keys[parent])}, "
                    "which is a file",
                    raw,
                )
        if not is_dir and key in self._dir_keys:
            raise UnsafeArchive(f"entry {shown(raw)} is both a folder and a file", raw)
        if key in self._file_keys:
            other = self._file_keys[key]
            how = "appears more than once" if other == name else f"clashes with {shown(other)}"
            raise UnsafeArchive(
                f"entry {shown(raw)} {how} (names may not repeat, even in another letter "
                "case or Unicode form)",
                raw,
            )
        spelled = name.split("/")
        for count, parent in enumerate(parents, start=1):
            self._dir_keys.setdefault(parent, "/".join(spelled[:count]))
        if is_dir:
            self._dir_keys.setdefault(key, name)
        else:
            self._file_keys[key] = name
            self.files.append(name)
        return name

    def reserve(self, raw: str, size: int) -> None:
        self.total += size
        if self.total > self.limits.max_total_size:
            raise UnsafeArchive(
                f"entry {shown(raw)}: the archive holds more than "
                f"{self.limits.max_total_size} bytes uncompressed",
                raw,
            )

    def check_ratio(self, uncompressed: int, compressed: int, raw: str) -> None:
        if uncompressed > max(self.limits.ratio_grace, self.limits.max_ratio * compressed):
            raise UnsafeArchive(
                f"entry {shown(raw)}: the archive expands more than "
                f"{self.limits.max_ratio:g} times (a compression bomb?)",
                raw,
            )


def extract_zip(source: Path, staging: Path, limits: ArchiveLimits) -> list[str]:
    archive_size = source.stat().st_size
    ledger = _Ledger(limits)
    try:
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
            if len(infos) > limits.max_entries:
                raise UnsafeArchive(f"the archive has more than {limits.max_entries} entries")
            plan: list[tuple[zipfile.ZipInfo, str]] = []
            for info in infos:
                raw = info.orig_filename  # .filename is cut at a NUL
                _check_zip_entry(info, raw)
                is_dir = raw.endswith("/")
                name = ledger.entry(raw, is_dir=is_dir)
                if not is_dir:
                    ledger.reserve(raw, info.file_size)
                    ledger.check_ratio(ledger.total, archive_size, raw)
                plan.append((info, name))
            for info, name in plan:
                target = staging / name
                with _path_fits(info.orig_filename):
                    if info.orig_filename.endswith("/"):
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    with archive.open(info) as stream:
                        _write(stream, target, _zip_budget(info))
    except UnsafeArchive:
        raise
    except (*_CORRUPT, NotImplementedError) as exc:
        raise UnsafeArchive(f"the zip archive is corrupt: {exc}") from None
    return ledger.files


def _check_zip_entry(info: zipfile.ZipInfo, raw: str) -> None:
    mode = info.external_attr >> 16  # Unix mode bits, when the creator recorded them
    if mode and stat.S_ISLNK(mode):
        raise UnsafeArchive(f"entry {shown(raw)} is a symbolic link", raw)
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise UnsafeArchive(f"entry {shown(raw)} is a device, FIFO or socket", raw)
    if info.flag_bits & 0x1:
        raise UnsafeArchive(f"entry {shown(raw)} is encrypted", raw)
    if info.compress_type not in _ZIP_METHODS:
        raise UnsafeArchive(
            f"entry {shown(raw)} uses an unsupported compression method ({info.compress_type})",
            raw,
        )


def _zip_budget(info: zipfile.ZipInfo) -> Callable[[int], None]:
    written = 0

    def spend(size: int) -> None:
        nonlocal written
        written += size
        if written > info.file_size:  # zipfile stops at the declared size; belt and braces
            raise UnsafeArchive(
                f"entry {shown(info.orig_filename)} is larger than the archive declares",
                info.orig_filename,
            )

    return spend


class _CountingReader:
    """The archive file as tarfile reads it, counting the (compressed) bytes read."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.count = 0

    def read(self, size: int, /) -> bytes:
        data = self._file.read(size)
        self.count += len(data)
        return data

    def write(self, b: bytes, /) -> object:
        raise OSError("read-only")

    def tell(self) -> int:
        return self.count

    def seek(self, pos: int, /) -> object:
        raise OSError("a stream cannot seek")

    def close(self) -> object:
        return None  # the caller closes the file


def extract_tar(source: Path, staging: Path, limits: ArchiveLimits) -> list[str]:
    ledger = _Ledger(limits)
    try:
        with open(source, "rb") as file:
            reader = _CountingReader(file)
            with tarfile.open(fileobj=reader, mode="r|*") as archive:
                for member in archive:
                    _extract_member(archive, member, staging, ledger, reader)
    except UnsafeArchive:
        raise
    except _CORRUPT as exc:
        raise UnsafeArchive(f"the tar archive is corrupt: {exc}") from None
    return ledger.files


def _extract_member(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    staging: Path,
    ledger: _Ledger,
    reader: _CountingReader,
) -> None:
    raw = member.name
    if member.issym():
        raise UnsafeArchive(f"entry {shown(raw)} is a symbolic link", raw)
    if member.islnk():
        raise UnsafeArchive(f"entry {shown(raw)} is a hard link", raw)
    if not (member.isreg() or member.isdir()):
        raise UnsafeArchive(f"entry {shown(raw)} is a device, FIFO or other special file", raw)
    name = ledger.entry(raw, is_dir=member.isdir())
    target = staging / name
    if member.isdir():
        with _path_fits(raw):
            target.mkdir(parents=True, exist_ok=True)
        return
    ledger.reserve(raw, member.size)
    stream = archive.extractfile(member)
    if stream is None:  # pragma: no cover - regular members always have a stream
        raise UnsafeArchive(f"entry {shown(raw)} cannot be read", raw)
    written = ledger.total - member.size  # by the members before this one

    def spend(size: int) -> None:
        nonlocal written
        written += size
        ledger.check_ratio(written, reader.count, raw)

    with stream, _path_fits(raw):
        _write(stream, target, spend)


@contextlib.contextmanager
def _path_fits(raw: str) -> Iterator[None]:
    """An entry whose path the file system finds too long (the folder it is extracted into
    adds to its name) is refused like any other unsafe entry, not left to fail as an
    OSError."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        raise UnsafeArchive(
            f"entry {shown(raw)}: the path is too long for the file system", raw
        ) from None


def _write(stream: IO[bytes], target: Path, spend: Callable[[int], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL and O_NOFOLLOW: never overwrite and never write through a link, even though
    # the staging folder is fresh and no links are ever created in it.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        while chunk := stream.read(_CHUNK):
            spend(len(chunk))
            out.write(chunk)
