from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import pytest

from app.packages import Problem, check_package
from domain.formats import ModelFormat, resolve_runtime
from tests.unit.package_builders import (
    WEIGHTS_BYTES,
    torch_zip,
    write_onnx,
    write_service,
)


def check(root: Path, model_format: ModelFormat, runtime: str | None = None) -> list[Problem]:
    return check_package(root, model_format, resolve_runtime(model_format, runtime))


def messages(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


# --- any package ------------------------------------------------------------------------


@pytest.mark.parametrize("model_format", list(ModelFormat))
def test_an_empty_package_is_a_problem(tmp_path: Path, model_format: ModelFormat) -> None:
    (tmp_path / "empty-folder").mkdir()
    assert check(tmp_path, model_format) == [Problem("", "the package is empty")]


def test_a_missing_package_folder_is_a_problem(tmp_path: Path) -> None:
    problems = check(tmp_path / "nowhere", ModelFormat.ONNX)
    assert Problem("", "the package folder does not exist") in problems


def test_links_in_a_package_are_problems(tmp_path: Path) -> None:
    write_onnx(tmp_path / "model.onnx")
    (tmp_path / "passwd").symlink_to("/etc/passwd")
    (tmp_path / "etc").symlink_to("/etc")
    assert check(tmp_path, ModelFormat.ONNX) == [
        Problem("etc", "is a symbolic link"),
        Problem("passwd", "is a symbolic link"),
    ]


def test_problems_render_with_their_path() -> None:
    assert str(Problem("a/b.onnx", "bad")) == "a/b.onnx: bad"
    assert str(Problem("", "bad")) == "bad"


# --- ONNX -------------------------------------------------------------------------------


def test_a_valid_onnx_model_passes(tmp_path: Path) -> None:
    write_onnx(tmp_path / "model.onnx")
    (tmp_path / "README.md").write_text("extra files are fine")
    assert check(tmp_path, ModelFormat.ONNX) == []


def test_the_only_file_is_checked_whatever_its_name(tmp_path: Path) -> None:
    write_onnx(tmp_path / "model")
    assert check(tmp_path, ModelFormat.ONNX) == []


def test_external_data_inside_the_package_passes(tmp_path: Path) -> None:
    write_onnx(tmp_path / "nested" / "model.onnx", external="weights/w.bin")
    (tmp_path / "nested" / "weights").mkdir()
    (tmp_path / "nested" / "weights" / "w.bin").write_bytes(WEIGHTS_BYTES)
    assert check(tmp_path, ModelFormat.ONNX) == []


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("../outside.bin", "points outside the package: '../outside.bin'"),
        ("/etc/passwd", "points outside the package: '/etc/passwd'"),
        ("..\\outside.bin", "points outside the package: " + repr("..\\outside.bin")),
        ("missing.bin", "points to 'missing.bin', which is not in the package"),
        ("short.bin", "reads past the end of 'short.bin'"),
    ],
)
def test_bad_external_data_is_a_problem(tmp_path: Path, location: str, message: str) -> None:
    package = tmp_path / "pkg"
    write_onnx(package / "model.onnx", external=location)
    (tmp_path / "outside.bin").write_bytes(WEIGHTS_BYTES)
    (package / "short.bin").write_bytes(WEIGHTS_BYTES[:4])
    assert messages(check(package, ModelFormat.ONNX)) == [f"model.onnx: tensor 'W' {message}"]


def test_external_data_through_a_link_out_of_the_package_is_a_problem(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    write_onnx(package / "model.onnx", external="data/outside.bin")
    (tmp_path / "outside.bin").write_bytes(WEIGHTS_BYTES)
    (package / "data").symlink_to(tmp_path)
    assert "model.onnx: tensor 'W' points outside the package: 'data/outside.bin'" in messages(
        check(package, ModelFormat.ONNX)
    )


def test_a_torch_file_renamed_onnx_is_not_an_onnx_model(tmp_path: Path) -> None:
    torch_zip(tmp_path / "model.onnx", code=False)
    assert messages(check(tmp_path, ModelFormat.ONNX)) == [
        "model.onnx: not an ONNX model: it is a zip file (a PyTorch or TorchScript file?)"
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the model file is empty"),
        (b"\x80\x04K\x01.", "not an ONNX model: it is a Python pickle"),
        (os.urandom(64) + b"\x07", "not an ONNX model"),
        (b"\x08\x07", "not an ONNX model: it has no IR version or no graph"),
    ],
)
def test_files_that_are_not_onnx_are_problems(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "model.onnx").write_bytes(content)
    (problem,) = check(tmp_path, ModelFormat.ONNX)
    assert problem.path == "model.onnx"
    assert problem.message.startswith(message)


def test_an_invalid_onnx_graph_fails_the_checker_and_every_file_is_reported(
    tmp_path: Path,
) -> None:
    write_onnx(tmp_path / "a.onnx", broken=True)
    (tmp_path / "b.onnx").write_bytes(b"")
    problems = check(tmp_path, ModelFormat.ONNX)
    assert [problem.path for problem in problems] == ["a.onnx", "b.onnx"]
    assert problems[0].message.startswith("the ONNX checker rejects the model: ")
    assert "missing" in problems[0].message


def test_an_onnx_package_without_an_onnx_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    assert messages(check(tmp_path, ModelFormat.ONNX)) == [
        "no ONNX model (a .onnx file) in the package"
    ]


# --- TorchScript and other PyTorch formats ----------------------------------------------


def test_a_real_torchscript_archive_passes_and_a_state_dict_does_not(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    (tmp_path / "script").mkdir()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
        scripted = torch.jit.trace(torch.nn.Linear(2, 1), torch.zeros(1, 2))
        torch.jit.save(scripted, str(tmp_path / "script" / "model.pt"))
    assert check(tmp_path / "script", ModelFormat.TORCHSCRIPT) == []

    (tmp_path / "state").mkdir()
    torch.save(torch.nn.Linear(2, 1).state_dict(), tmp_path / "state" / "model.pt")
    (problem,) = check(tmp_path / "state", ModelFormat.TORCHSCRIPT)
    assert problem.path == "model.pt"
    assert problem.message.startswith(
        "is a PyTorch checkpoint (torch.save), not TorchScript: it has data.pkl but no code/"
    )


def test_an_incomplete_torchscript_archive_is_a_problem(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "model.pt", "w") as archive:
        archive.writestr("m/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("m/code/__torch__/m.py", "")
    assert [str(problem) for problem in check(tmp_path, ModelFormat.TORCHSCRIPT)] == [
        "model.pt: is an incomplete TorchScript archive: missing m/constants.pkl, m/version"
    ]


def test_a_torchscript_layout_is_recognised_by_content(tmp_path: Path) -> None:
    torch_zip(tmp_path / "model.bin")  # an unusual name: found because it is a zip
    torch_zip(tmp_path / "checkpoint.pt", code=False)  # extra files are fine
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    assert check(tmp_path, ModelFormat.TORCHSCRIPT) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the model file is empty"),
        (b"\x80\x02}q\x00.", "is a legacy torch.save pickle, not TorchScript"),
        (b"not a model", "is not a TorchScript archive"),
        (b"PK\x03\x04 truncated", "is not a TorchScript archive: the zip is corrupt"),
    ],
)
def test_files_that_are_not_torchscript_are_problems(
    tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "model.pt").write_bytes(content)
    (problem,) = check(tmp_path, ModelFormat.TORCHSCRIPT)
    assert problem.path == "model.pt"
    assert problem.message.startswith(message)


@pytest.mark.parametrize(
    "model_format", [ModelFormat.PYTORCH, ModelFormat.DETECTRON2, ModelFormat.MMDETECTION]
)
def test_pytorch_style_formats_need_weights_script_and_config(
    tmp_path: Path, model_format: ModelFormat
) -> None:
    (tmp_path / "notes.txt").write_text("no model here")
    assert messages(check(tmp_path, model_format)) == [
        "no weights file in the package (*.pt, *.pth, *.bin, *.pkl, *.safetensors, *.ckpt)",
        "a custom runtime needs the inference script model_service.py at the package root",
        "a custom runtime needs the service config config.json at the package root",
    ]
    (tmp_path / "weights" / "model_final.pth").parent.mkdir()
    (tmp_path / "weights" / "model_final.pth").write_bytes(b"")
    write_service(tmp_path)
    assert messages(check(tmp_path, model_format)) == [
        "weights/model_final.pth: the weights file is empty"
    ]
    (tmp_path / "weights" / "model_final.pth").write_bytes(b"weights")
    assert check(tmp_path, model_format) == []


def test_an_image_runtime_needs_only_the_model_files(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    assert check(tmp_path, ModelFormat.PYTORCH, "image:registry.local/detector:1") == []
