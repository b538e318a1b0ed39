from __future__ import annotations

import gzip
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from app.packages import ArchiveLimits, UnsafeArchive, extract_archive
from tests.unit.archive_builders import (
    assert_nothing_left,
    make_tar,
    make_zip,
    member,
    spy_on_writes,
)
from tests.unit.package_builders import torch_zip, write_onnx


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return spy_on_writes(monkeypatch)


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path: Path, written: list[int]) -> None:
    source = make_zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(4 * 1024 * 1024))])
    assert source.stat().st_size * 100 < 4 * 1024 * 1024  # ratio ~1000
    with pytest.raises(UnsafeArchive, match="expands more than 100 times"):
        extract_archive(source, tmp_path / "pkg")
    assert written == []
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)


def test_a_gzip_bomb_is_stopped_long_before_it_is_written(
    tmp_path: Path, written: list[int]
) -> None:
    size = 8 * 1024 * 1024
    source = make_tar(tmp_path / "bomb.tgz", [(member("zeros.bin"), bytes(size))])
    assert source.stat().st_size * 100 < size
    with pytest.raises(UnsafeArchive, match=r"'zeros\.bin'.*expands more than 100 times"):
        extract_archive(source, tmp_path / "pkg")
    assert 0 < sum(written) <= 2 * 1024 * 1024
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)


def test_well_compressed_small_archives_are_within_the_grace(tmp_path: Path) -> None:
    source = make_zip(tmp_path / "a.zip", [("config.json", b"{}" + b" " * 500_000)])
    assert extract_archive(source, tmp_path / "pkg") == [Path("config.json")]


def test_a_zip_with_too_many_entries_is_refused_before_extraction(
    tmp_path: Path, written: list[int]
) -> None:
    source = make_zip(tmp_path / "many.zip", [(f"f{i}", b"") for i in range(10_001)])
    with pytest.raises(UnsafeArchive, match="more than 10000 entries"):
        extract_archive(source, tmp_path / "pkg")
    assert written == []
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)


def test_a_tar_with_too_many_entries_is_refused(tmp_path: Path, written: list[int]) -> None:
    # A stream has no directory to count first: extraction stops at the entry over the
    # limit. The same folder entry repeated keeps the test from creating 10,000 files.
    members = [(member("d", tarfile.DIRTYPE), b"") for _ in range(10_000)]
    source = make_tar(tmp_path / "many.tgz", [*members, (member("d/f"), b"")])
    with pytest.raises(UnsafeArchive, match="more than 10000 entries"):
        extract_archive(source, tmp_path / "pkg")
    assert written == []
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)


def test_a_tar_stops_at_the_entry_over_the_limit(tmp_path: Path, written: list[int]) -> None:
    source = make_tar(tmp_path / "many.tgz", [(member(f"f{i}"), b"x") for i in range(50)])
    with pytest.raises(UnsafeArchive, match="more than 20 entries"):
        extract_archive(source, tmp_path / "pkg", ArchiveLimits(max_entries=20))
    assert written == [1] * 20
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)


def test_the_limits_are_parameters(tmp_path: Path) -> None:
    source = make_zip(tmp_path / "a.zip", [("a", b"x" * 600), ("b", b"x" * 600)])
    with pytest.raises(UnsafeArchive, match="'b': the archive holds more than 1000 bytes"):
        extract_archive(source, tmp_path / "pkg", ArchiveLimits(max_total_size=1000))
    with pytest.raises(UnsafeArchive, match="more than 1 entries"):
        extract_archive(source, tmp_path / "pkg", ArchiveLimits(max_entries=1))
    with pytest.raises(UnsafeArchive, match="expands more than 2 times"):
        extract_archive(source, tmp_path / "pkg", ArchiveLimits(max_ratio=2, ratio_grace=0))
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)


def test_a_huge_declared_tar_member_is_refused_before_its_data(
    tmp_path: Path, written: list[int]
) -> None:
    header = member("huge.bin")
    header.size = 30 * 1024**3
    source = tmp_path / "huge.tgz"
    source.write_bytes(gzip.compress(header.tobuf(tarfile.GNU_FORMAT) + bytes(4096)))
    with pytest.raises(UnsafeArchive, match=r"'huge\.bin': the archive holds more than"):
        extract_archive(source, tmp_path / "pkg")
    assert written == []
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)


@pytest.mark.parametrize("name", ["a.zip", "a.tgz"])
def test_a_truncated_archive_is_reported_and_cleaned_up(tmp_path: Path, name: str) -> None:
    data = b"".join(bytes([i % 251]) * 7 for i in range(50_000))
    if name.endswith(".zip"):
        source = make_zip(tmp_path / name, [("a.bin", data)])
    else:
        source = make_tar(tmp_path / name, [(member("a.bin"), data)])
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 2] + b"\x00" * 64)
    kind = "zip" if name.endswith(".zip") else "tar"
    with pytest.raises(UnsafeArchive, match=f"the {kind} archive is corrupt"):
        extract_archive(source, tmp_path / "pkg")
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)


@pytest.mark.parametrize("build", [write_onnx, torch_zip])
def test_a_file_that_is_no_archive_is_refused(
    tmp_path: Path, build: Callable[[Path], Path]
) -> None:
    source = build(tmp_path / "model.zip")
    with pytest.raises(UnsafeArchive, match="not a zip or tar archive"):
        extract_archive(source, tmp_path / "pkg")
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)
