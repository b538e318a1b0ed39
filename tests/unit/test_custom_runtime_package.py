from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.packages import Problem, check_package
from app.packages.service_config import validate_service_config
from domain.formats import ModelFormat
from tests.unit.package_builders import SERVICE_CONFIG, write_onnx, write_service


def custom_problems(root: Path) -> list[str]:
    return [str(problem) for problem in check_package(root, ModelFormat.ONNX, "custom")]


@pytest.fixture
def package(tmp_path: Path) -> Path:
    write_onnx(tmp_path / "model.onnx")
    write_service(tmp_path)
    return tmp_path


def test_a_complete_custom_package_passes(package: Path) -> None:
    assert custom_problems(package) == []


def test_the_built_in_runtime_needs_no_script(tmp_path: Path) -> None:
    write_onnx(tmp_path / "model.onnx")
    assert check_package(tmp_path, ModelFormat.ONNX, "onnxruntime") == []
    assert [p.message for p in check_package(tmp_path, ModelFormat.ONNX, "custom")] == [
        "a custom runtime needs the inference script model_service.py at the package root",
        "a custom runtime needs the service config config.json at the package root",
    ]


def test_the_model_is_still_checked_with_a_custom_runtime(package: Path) -> None:
    (package / "model.onnx").write_bytes(b"\x80\x04K\x01.")
    assert custom_problems(package) == ["model.onnx: not an ONNX model: it is a Python pickle"]


def test_a_script_and_config_in_a_subfolder_are_pointed_out(tmp_path: Path) -> None:
    write_onnx(tmp_path / "model.onnx")
    write_service(tmp_path / "src")
    assert custom_problems(tmp_path) == [
        "a custom runtime needs the inference script model_service.py at the package root "
        "(found src/model_service.py; it must be at the root)",
        "a custom runtime needs the service config config.json at the package root "
        "(found src/config.json; it must be at the root)",
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "class Service:\n    def predict(self, x)\n",
            "is not valid Python: expected ':' (line 2)",
        ),
        ("x = 1\x00\n", "is not valid Python: source code string cannot contain null bytes"),
        ("def predict(x):\n    return x\n", "defines no class with a predict method"),
        (
            "class Service:\n    def run(self, x):\n        return x\n",
            "defines no class with a predict method",
        ),
    ],
)
def test_a_bad_script_is_a_problem(package: Path, source: str, message: str) -> None:
    (package / "model_service.py").write_text(source)
    assert custom_problems(package) == [f"model_service.py: {message}"]


def test_the_script_is_parsed_not_run(package: Path) -> None:
    marker = package / "ran"
    (package / "model_service.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "class Service:\n    async def predict(self, x):\n        return x\n"
    )
    assert custom_problems(package) == []
    assert not marker.exists()


# --- config.json ------------------------------------------------------------------------


def test_a_full_config_is_valid() -> None:
    config = {
        "inputs": [
            {"name": "image", "type": "image", "shape": [-1]},
            {"name": "threshold", "type": "float64", "shape": []},
        ],
        "outputs": [{"name": "boxes", "type": "float32", "shape": [-1, 4]}],
        "batch": {"max_batch_size": 16},
        "image": {
            "formats": ["jpeg", "png"],
            "resize": [224, 224],
            "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        },
        "requirements": ["numpy>=1.26", "pillow"],
    }
    assert validate_service_config(config) == []


def test_every_config_problem_is_listed(package: Path) -> None:
    config = {
        "inputs": [
            {"name": "x", "type": "float16", "shape": [0, 2]},
            {"name": "x", "type": "int64", "shape": [1], "dtype": "int64"},
            "y",
        ],
        "outputs": [],
        "batch": {"max_batch_size": 0, "timeout_ms": True},
        "image": {"formats": ["gif"], "resize": [224], "normalize": {"mean": [0.5], "std": [0]}},
        "requirements": ["numpy", "--index-url=http://evil", 3],
        "gpu": True,
        "network": "yes",
    }
    (package / "config.json").write_text(json.dumps(config))
    assert custom_problems(package) == [
        "config.json: unknown key 'gpu' (allowed: inputs, outputs, batch, image, requirements,"
        " network)",
        "config.json: network: must be true or false, not a string",
        "config.json: inputs[0].type: 'float16' is not one of float32, float64, int32, int64, "
        "string, bool, bytes, image",
        "config.json: inputs[0].shape: sizes must be integers >= 1, or -1 for a dynamic size",
        "config.json: inputs[1]: unknown key 'dtype' (allowed: name, type, shape)",
        "config.json: inputs[1].name: 'x' is used twice in inputs",
        "config.json: inputs[2]: must be an object, not a string",
        "config.json: outputs: must be a non-empty list of tensors",
        "config.json: batch.max_batch_size: must be an integer from 1 to 65536",
        "config.json: batch.timeout_ms: must be an integer from 0 to 60000",
        "config.json: image.formats: must be a non-empty list of jpeg, png",
        "config.json: image.resize: must be [height, width], integers >= 1",
        "config.json: image.normalize.std: must be a list of 1 to 4 numbers, each > 0",
        "config.json: image: image options need an input of type 'image'",
        "config.json: requirements[1]: must be a pip requirement such as 'numpy>=1.26' "
        "(pip options are not allowed)",
        "config.json: requirements[2]: must be a pip requirement such as 'numpy>=1.26' "
        "(pip options are not allowed)",
    ]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "must be an object, not a list"),
        ({}, "the key 'inputs' is required"),
        ({**SERVICE_CONFIG, "batch": {}}, "batch: the key 'max_batch_size' is required"),
        (
            {**SERVICE_CONFIG, "outputs": [{"name": "1y", "type": "bool", "shape": [1]}]},
            "outputs[0].name: must be a letter or '_'",
        ),
        (
            {**SERVICE_CONFIG, "outputs": [{"name": "y", "type": "bool", "shape": [1] * 33}]},
            "outputs[0].shape: must be a list of at most 32 integers",
        ),
        (
            {
                **SERVICE_CONFIG,
                "inputs": [{"name": "i", "type": "image", "shape": [-1]}],
                "image": {"normalize": {"mean": [0.5, 0.5], "std": [1]}},
            },
            "image.normalize: mean and std must have the same length",
        ),
        ({**SERVICE_CONFIG, "requirements": "numpy"}, "must be a list of strings, not a string"),
    ],
)
def test_config_rules(document: Any, problem: str) -> None:
    problems = validate_service_config(document)
    assert any(problem in found for found in problems), problems


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON: Expecting property name"),
        ('{"inputs": NaN}', "not valid JSON: NaN is not a JSON number"),
        ("\xff", "not valid JSON"),
        ('{"inputs": [], "inputs": []}', "the key 'inputs' appears more than once"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
)
def test_unreadable_config_is_a_problem(package: Path, text: str, message: str) -> None:
    (package / "config.json").write_text(text)
    problems = check_package(package, ModelFormat.ONNX, "custom")
    assert problems[0].path == "config.json"
    assert problems[0].message.startswith(message)


def test_a_config_that_is_not_utf8_or_too_large_is_a_problem(package: Path) -> None:
    (package / "config.json").write_bytes(b"\xff\xfe{}")
    assert check_package(package, ModelFormat.ONNX, "custom") == [
        Problem("config.json", "the file is not UTF-8 text")
    ]
    (package / "config.json").write_bytes(b" " * (1024 * 1024 + 1))
    assert check_package(package, ModelFormat.ONNX, "custom") == [
        Problem("config.json", "the file is larger than 1048576 bytes")
    ]
