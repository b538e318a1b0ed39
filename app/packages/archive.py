"""Safe extraction of uploaded archives into a package directory.

Zip files and tar files (plain, gzip, bzip2 or xz compressed) are recognised by their first
bytes, never by their names. Every entry is checked before anything is written for it, and
the whole archive is rejected (:class:`UnsafeArchive`, naming the entry) when one entry is
unsafe: names that escape the folder or are spelled ambiguously (see
:mod:`app.packages.file_names`), links, devices, FIFOs, duplicate names (also ones that differ
only in letter case or Unicode form), too many entries, too many bytes, or a compression ratio
that betrays a bomb.

A zip's central directory lists everything, so all checks run before the first byte is
written. A tar file is read as a stream: each member is checked before it is written and the
running ratio of bytes written to compressed bytes read aborts a bomb early. Either way the
archive is extracted into a fresh folder next to ``dest`` that is renamed into place only on
success, so a failure leaves nothing behind.
"""

from __future__ import annotations

import bz2
import lzma
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.packages import _extract
from app.packages._torchzip import torch_zip_layout
from app.packages.errors import UnsafeArchive

ArchiveKind = Literal["zip", "tar"]

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_TAR_BLOCK = 512
_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_entries: int = 10_000
    max_total_size: int = 20 * 1024**3
    # Uncompressed bytes per byte of archive. Real model files rarely pass 10.
    max_ratio: float = 100.0
    # The ratio is not enforced until this many bytes are out, so tiny archives of text
    # files (and the first, noisy blocks of a stream) never trip it.
    ratio_grace: int = 1024**2


DEFAULT_LIMITS = ArchiveLimits()


def archive_kind(path: Path) -> ArchiveKind | None:
    """``"zip"`` or ``"tar"`` (maybe compressed) judged by content, ``None`` otherwise.

    A PyTorch or TorchScript file is a zip too, but it is a model file, not an archive of
    files to unpack, so it is ``None``.
    """
    with open(path, "rb") as file:
        head = file.read(_HEAD_BYTES)
    if head.startswith(_ZIP_MAGICS):
        try:
            with zipfile.ZipFile(path) as archive:
                names = [info.orig_filename for info in archive.infolist()]
        except (zipfile.BadZipFile, OSError, ValueError):
            return "zip"  # extraction will report what is wrong with it
        return None if torch_zip_layout(names) else "zip"
    block = _decompressed_head(head)
    return "tar" if block is not None and _is_tar_header(block) else None


def is_archive(path: Path) -> bool:
    """Whether ``path`` holds a zip or tar archive (judged by content, not by name)."""
    return archive_kind(path) is not None


def extract_archive(source: Path, dest: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[Path]:
    """Extract ``source`` into ``dest`` (which must not exist, or be an empty folder).

    Returns the extracted files' paths relative to ``dest``, in archive order. Raises
    :class:`UnsafeArchive` when the archive is unsafe, corrupt or not an archive; ``dest``
    is then left as it was.
    """
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} already exists and is not an empty folder")
    kind = archive_kind(source)
    extractor: Callable[[Path, Path, ArchiveLimits], list[str]]
    if kind == "zip":
        extractor = _extract.extract_zip
    elif kind == "tar":
        extractor = _extract.extract_tar
    else:
        raise UnsafeArchive(
            "the file is not a zip or tar archive (PyTorch and TorchScript files are zips, "
            "but model files: upload them as they are)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        names = extractor(source, staging, limits)
        staging.chmod(0o755)
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [Path(name) for name in names]


def _decompressed_head(head: bytes) -> bytes | None:
    """The first tar block of ``head``, decompressing it first if it is compressed."""
    try:
        if head.startswith(b"\x1f\x8b"):
            return zlib.decompressobj(wbits=31).decompress(head, _TAR_BLOCK)
        if head.startswith(b"BZh"):
            return bz2.BZ2Decompressor().decompress(head, _TAR_BLOCK)
        if head.startswith(b"\xfd7zXZ\x00"):
            return lzma.LZMADecompressor().decompress(head, _TAR_BLOCK)
    except (zlib.error, OSError, lzma.LZMAError, EOFError):
        return None
    return head[:_TAR_BLOCK]


def _is_tar_header(block: bytes) -> bool:
    if len(block) < _TAR_BLOCK:
        return False
    if block[257:262] == b"ustar":
        return True
    # Pre-POSIX tar has no magic; its header checksum is what identifies it.
    field = block[148:156].replace(b"\x00", b" ").strip()
    try:
        stored = int(field, 8)
    except ValueError:
        return False
    return stored == sum(block[:148]) + 8 * 0x20 + sum(block[156:_TAR_BLOCK])
