from __future__ import annotations

from pathlib import Path

import pytest

from app.packages.redact import without_paths

PACKAGE = Path("/srv/data/work/import-x/package")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "should be stored in /srv/data/work/import-x/package/sub/w.bin/, but it is not",
            "should be stored in sub/w.bin, but it is not",
        ),
        ("the folder /srv/data/work/import-x/package is empty", "the folder the package is empty"),
        ("no file /srv/data/work/import-x/package/x.bin.", "no file x.bin."),
    ],
)
def test_paths_in_the_package_are_named_relative_to_it(text: str, shown: str) -> None:
    assert without_paths(text, [PACKAGE]) == shown
    assert without_paths(text, [PACKAGE], every_path=True) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "Load model from /srv/data/cache/ab/model.onnx failed",
            "Load model from model.onnx failed",
        ),
        ("cannot open '/etc/passwd': denied", "cannot open 'passwd': denied"),
    ],
)
def test_other_paths_are_cut_to_their_last_part_only_when_asked(text: str, shown: str) -> None:
    assert without_paths(text, [PACKAGE], every_path=True) == shown
    assert without_paths(text, [PACKAGE]) == text


def test_urls_relative_paths_and_fractions_are_left_alone() -> None:
    text = "see https://example.com/a/b, s3://bucket/key, a/b/c.txt and 1/2"
    assert without_paths(text, [PACKAGE], every_path=True) == text


def test_a_package_behind_a_symlink_is_recognised_by_either_path(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert without_paths(f"bad {real}/sub/m.onnx", [link]) == "bad sub/m.onnx"
    assert without_paths(f"bad {link}/sub/m.onnx", [link]) == "bad sub/m.onnx"
