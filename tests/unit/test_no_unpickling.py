"""Extraction and checks never unpickle: a pickle whose ``__reduce__`` would create a marker
folder is put in every format's package, under every model-ish name, and the marker never
appears."""

from __future__ import annotations

import pickle
import tarfile
import zipfile
from pathlib import Path

import pytest

from app.packages import check_package, extract_archive
from domain.formats import CUSTOM_RUNTIME, ModelFormat, resolve_runtime
from tests.unit.package_builders import evil_pickle, torch_zip, write_service

NAMES = (
    "model.bin",
    "weights.pt",
    "model.pth",
    "model.pkl",
    "model.ckpt",
    "model.onnx",
    "model.pmml",
    "frozen.pb",
    "variables/variables.data-00000-of-00001",
)


def test_the_payload_does_create_the_marker_when_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    pickle.loads(evil_pickle(marker))  # proving the payload works
    assert marker.is_dir()


def hostile_package(root: Path, marker: Path) -> None:
    payload = evil_pickle(marker)
    for name in NAMES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(payload)
    torch_zip(root / "script.pt", data_pkl=payload)
    torch_zip(root / "checkpoint.pt", code=False, data_pkl=payload)
    write_service(root)


@pytest.mark.parametrize("archive", ["zip", "tgz"])
def test_nothing_is_unpickled_in_any_format(tmp_path: Path, archive: str) -> None:
    marker = tmp_path / "unpickled"
    source_dir = tmp_path / "source"
    hostile_package(source_dir, marker)
    upload = tmp_path / "upload"
    files = sorted(path for path in source_dir.rglob("*") if path.is_file())
    if archive == "zip":
        with zipfile.ZipFile(upload, "w") as out:
            for path in files:
                out.write(path, path.relative_to(source_dir).as_posix())
    else:
        with tarfile.open(upload, "w:gz") as out:
            for path in files:
                out.add(path, path.relative_to(source_dir).as_posix())

    package = tmp_path / "package"
    extract_archive(upload, package)
    for model_format in ModelFormat:
        for runtime in {resolve_runtime(model_format, None), CUSTOM_RUNTIME, "image:x"}:
            check_package(package, model_format, runtime)
            # Each single file alone, too: the "only file" of a package is always inspected.
            for name in (*NAMES, "script.pt"):
                single = tmp_path / "single" / name.replace("/", "_")
                single.parent.mkdir(exist_ok=True)
                single.write_bytes((package / name).read_bytes())
                check_package(single.parent, model_format, runtime)
                single.unlink()
    assert not marker.exists()
