from __future__ import annotations

import gzip
import stat
import tarfile
from pathlib import Path

import pytest

from app.packages import UnsafeArchive, UnsafeName, check_file_name, extract_archive, is_archive
from tests.unit.archive_builders import (
    assert_nothing_left,
    make_tar,
    make_zip,
    member,
    spy_on_writes,
    zip_info,
)
from tests.unit.package_builders import torch_zip, write_onnx


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return spy_on_writes(monkeypatch)


# --- the happy paths --------------------------------------------------------------------


def test_a_zip_is_extracted_with_its_folders(tmp_path: Path) -> None:
    source = make_zip(
        tmp_path / "upload",
        [("model/", b""), ("model/a.onnx", b"onnx"), ("./model//b/c.txt", b"text")],
    )
    dest = tmp_path / "out" / "pkg"
    files = extract_archive(source, dest)
    assert files == [Path("model/a.onnx"), Path("model/b/c.txt")]
    assert (dest / "model/a.onnx").read_bytes() == b"onnx"
    assert (dest / "model/b/c.txt").read_bytes() == b"text"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pkg"]


@pytest.mark.parametrize("mode", ["w:gz", "w:", "w:bz2", "w:xz"])
def test_a_tar_is_extracted_whatever_its_compression(tmp_path: Path, mode: str) -> None:
    source = make_tar(
        tmp_path / "upload.bin",
        [
            (member(".", tarfile.DIRTYPE), b""),
            (member("./weights", tarfile.DIRTYPE), b""),
            (member("./weights/model.pt", tarfile.REGTYPE), b"w" * 1000),
            (member("config.json"), b"{}"),
        ],
        mode,
    )
    dest = tmp_path / "pkg"
    assert extract_archive(source, dest) == [Path("weights/model.pt"), Path("config.json")]
    assert (dest / "weights/model.pt").read_bytes() == b"w" * 1000


def test_an_existing_empty_destination_is_filled(tmp_path: Path) -> None:
    source = make_zip(tmp_path / "a.zip", [("x.txt", b"x")])
    (tmp_path / "pkg").mkdir()
    extract_archive(source, tmp_path / "pkg")
    assert (tmp_path / "pkg" / "x.txt").read_bytes() == b"x"


def test_a_destination_with_files_is_refused(tmp_path: Path) -> None:
    source = make_zip(tmp_path / "a.zip", [("x.txt", b"x")])
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "old").write_text("old")
    with pytest.raises(FileExistsError):
        extract_archive(source, tmp_path / "pkg")
    assert (tmp_path / "pkg" / "old").read_text() == "old"


def test_archives_are_recognised_by_content_not_name(tmp_path: Path) -> None:
    assert is_archive(make_zip(tmp_path / "model.onnx", [("a", b"a")]))
    assert is_archive(make_tar(tmp_path / "x.zip", [(member("a"), b"a")]))
    assert is_archive(make_tar(tmp_path / "plain", [(member("a"), b"a")], "w:"))
    assert not is_archive(write_onnx(tmp_path / "model.tar.gz"))
    assert not is_archive(torch_zip(tmp_path / "script.zip"))  # a model file, not a bundle
    assert not is_archive(torch_zip(tmp_path / "state.tgz", code=False))
    (tmp_path / "text.gz").write_bytes(gzip.compress(b"just text, not a tar" * 40))
    assert not is_archive(tmp_path / "text.gz")
    (tmp_path / "empty").write_bytes(b"")
    assert not is_archive(tmp_path / "empty")


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("/x", "absolute"),
        ("C:/x", "drive letter"),
        ("C:\\x", "backslash"),
        ("..\\x", "backslash"),
        ("a\x00b", "NUL"),
        ("a\nb", "control character"),
        ("a\x7fb", "control character"),
        ("x" * 901, "longer than 900 bytes"),
        ("/".join(["x" * 200] * 5), "longer than 900 bytes"),
        ("evil\u202etxt.exe", "invisible or control character U\\+202E"),
        ("a\u200bb", "invisible or control character U\\+200B"),
        ("a\ufeffb", "invisible or control character U\\+FEFF"),
        ("a/" + "x" * 256, "longer than 255 bytes"),
        ("bad\udcff", "UTF-8"),
        ("", "empty"),
        ("./", "does not name a file"),
    ],
)
def test_unsafe_file_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(UnsafeName, match=reason):
        check_file_name(name)


def test_safe_file_names_are_normalised() -> None:
    assert check_file_name("model.onnx") == "model.onnx"
    assert check_file_name("./a//b/./c.bin") == "a/b/c.bin"
    assert check_file_name("a/" + "x" * 255) == "a/" + "x" * 255
    assert check_file_name("é/モデル.onnx") == "é/モデル.onnx"
    assert check_file_name("epoch:3.ckpt") == "epoch:3.ckpt"


# --- unsafe entries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "reason"),
    [
        (["ok.txt", "../x"], "'\\.\\./x'.*'\\.\\.' segment"),
        (["/etc/x"], "'/etc/x'.*absolute"),
        (["C:\\x"], "backslash"),
        (["..\\x"], "backslash"),
        (["x" * 901], "longer than 900"),
        (["ok/read\u2067me.txt"], "'ok/read\\\\u2067me.txt'.*U\\+2067"),
        (["a/b", "a/b"], "'a/b' appears more than once"),
        (["a/b", "a/./b"], "'a/./b' appears more than once"),
        (["Model.onnx", "model.onnx"], "'model.onnx' clashes with 'Model.onnx'"),
        (["caf\u00e9", "cafe\u0301"], "clashes"),
        (["a", "a/b"], "'a/b' is inside 'a', which is a file"),
        (["a/b", "a"], "'a' is both a folder and a file"),
        (["a/", "a"], "'a' is both a folder and a file"),
    ],
)
def test_unsafe_zip_entries_are_refused_before_anything_is_written(
    tmp_path: Path, names: list[str], reason: str, written: list[int]
) -> None:
    source = make_zip(tmp_path / "a.zip", [(name, b"data") for name in names])
    with pytest.raises(UnsafeArchive, match=reason):
        extract_archive(source, tmp_path / "pkg")
    assert written == []
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)


def test_a_nul_in_a_zip_entry_name_is_refused(tmp_path: Path) -> None:
    source = make_zip(tmp_path / "a.zip", [("evil.pyX.txt", b"data")])
    # zipfile will not write a NUL, and cuts names at one when reading: patch the bytes.
    source.write_bytes(source.read_bytes().replace(b"evil.pyX.txt", b"evil.py\x00.txt"))
    with pytest.raises(UnsafeArchive, match="NUL") as caught:
        extract_archive(source, tmp_path / "pkg")
    assert caught.value.entry == "evil.py\x00.txt"
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_an_entry_too_long_for_the_folder_it_is_extracted_into_is_refused(
    tmp_path: Path, kind: str
) -> None:
    # A deep destination: with it in front, a name within the limits passes PATH_MAX.
    deep = tmp_path.joinpath(*["d" * 250] * 13)
    deep.mkdir(parents=True)
    name = "/".join(["x" * 200] * 4)
    source = tmp_path / "a.bin"
    if kind == "zip":
        make_zip(source, [("ok.txt", b"ok"), (name, b"data")])
    else:
        make_tar(source, [(member("ok.txt"), b"ok"), (member(name), b"data")])
    with pytest.raises(UnsafeArchive, match="too long for the file system") as caught:
        extract_archive(source, deep / "pkg")
    assert caught.value.entry == name
    assert sorted(deep.iterdir()) == []


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (stat.S_IFLNK | 0o777, "symbolic link"),
        (stat.S_IFIFO | 0o644, "device, FIFO or socket"),
        (stat.S_IFCHR | 0o644, "device, FIFO or socket"),
    ],
)
def test_zip_links_and_special_files_are_refused(tmp_path: Path, mode: int, reason: str) -> None:
    source = make_zip(tmp_path / "a.zip", [("ok", b"x"), (zip_info("link", mode), b"/etc/passwd")])
    with pytest.raises(UnsafeArchive, match=f"'link' is a {reason}"):
        extract_archive(source, tmp_path / "pkg")
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (member("../x"), "'\\.\\.' segment"),
        (member("/abs/x"), "absolute"),
        (member("..\\x"), "backslash"),
        (member("link", tarfile.SYMTYPE, "/etc/passwd"), "'link' is a symbolic link"),
        (member("hard", tarfile.LNKTYPE, "first.txt"), "'hard' is a hard link"),
        (member("fifo", tarfile.FIFOTYPE), "device, FIFO"),
        (member("dev", tarfile.CHRTYPE), "device, FIFO"),
        (member("blk", tarfile.BLKTYPE), "device, FIFO"),
        (member("first.txt"), "appears more than once"),
        (member("FIRST.txt"), "clashes with 'first.txt'"),
    ],
)
def test_unsafe_tar_entries_are_refused_and_nothing_is_left(
    tmp_path: Path, bad: tarfile.TarInfo, reason: str
) -> None:
    source = make_tar(tmp_path / "a.tgz", [(member("first.txt"), b"first"), (bad, b"bad")])
    with pytest.raises(UnsafeArchive, match=reason):
        extract_archive(source, tmp_path / "pkg")
    assert_nothing_left(tmp_path, tmp_path / "pkg", source)
