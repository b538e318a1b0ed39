"""Zip and tar files built at test time, and a spy on what extraction writes."""

from __future__ import annotations

import io
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from app.packages import _extract


def make_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates we write on purpose
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return path


def zip_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:  # type: ignore[call-overload]
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def spy_on_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes each extracted file receives, recorded as they are written."""
    sizes: list[int] = []
    original = _extract._write

    def spy(stream: IO[bytes], target: Path, spend: Callable[[int], None]) -> None:
        sizes.append(0)

        def counting(size: int) -> None:
            spend(size)
            sizes[-1] += size

        original(stream, target, counting)

    monkeypatch.setattr(_extract, "_write", spy)
    return sizes


def assert_nothing_left(tmp_path: Path, dest: Path, *keep: Path) -> None:
    assert not dest.exists()
    assert sorted(tmp_path.iterdir()) == sorted(keep)
