"""The service API config, ``config.json``, of a custom runtime (a ``model_service.py``).

It declares the service's inputs and outputs and optional batching, image decoding and extra
requirements. Every key not listed here is rejected, and every problem is reported::

    {
      "inputs":  [TENSOR, ...],           required, at least one
      "outputs": [TENSOR, ...],           required, at least one
      "batch": {                          optional: server-side batching
        "max_batch_size": 32,             required, integer 1..65536
        "timeout_ms": 10                  optional, integer 0..60000 (wait to fill a batch)
      },
      "image": {                          optional: decoding of inputs of type "image"
        "formats": ["jpeg", "png"],       optional, non-empty subset of "jpeg", "png"
        "resize": [224, 224],             optional, [height, width], integers >= 1
        "normalize": {                    optional, per channel: (pixel / 255 - mean) / std
          "mean": [0.485, 0.456, 0.406],  required, 1 to 4 numbers
          "std": [0.229, 0.224, 0.225]    required, as many numbers as "mean", each > 0
        }
      },
      "requirements": ["numpy>=1.26"],    optional, pip requirement strings (no pip options)
      "network": false                    optional: true gives the sandboxed model_service.py
                                          the server's network (see app.sandbox)
    }

    TENSOR = {
      "name": "x",          required; a letter or "_", then letters, digits, "_.:/-" (<= 128)
      "type": "float32",    required; float32 float64 int32 int64 string bool bytes image
      "shape": [-1, 4]      required; up to 32 integers, each >= 1 or -1 (dynamic); [] = scalar
    }

Tensor names are unique among the inputs and among the outputs. ``image`` options need at
least one input of type ``image``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

TENSOR_TYPES = ("float32", "float64", "int32", "int64", "string", "bool", "bytes", "image")
IMAGE_FORMATS = ("jpeg", "png")
MAX_CONFIG_BYTES = 1024 * 1024

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]{0,127}")
_REQUIREMENT = re.compile(r"[A-Za-z0-9][^\x00-\x1f\x7f]{0,255}")

Report = Callable[[str, str], None]


def read_service_config(path: Path) -> tuple[Any, list[str]]:
    """The parsed ``config.json`` and every problem with it (an empty list when valid)."""
    if path.stat().st_size > MAX_CONFIG_BYTES:
        return None, [f"the file is larger than {MAX_CONFIG_BYTES} bytes"]
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                duplicates.append(f"the key {key!r} appears more than once")
            seen[key] = value
        return seen

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        text = path.read_bytes().decode("utf-8-sig")
        document = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except UnicodeDecodeError:
        return None, ["the file is not UTF-8 text"]
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        return None, [f"not valid JSON: {exc}"]
    return document, duplicates + validate_service_config(document)


def validate_service_config(document: Any) -> list[str]:
    """Every problem with a parsed ``config.json``, each prefixed with where it is."""
    problems: list[str] = []

    def report(where: str, message: str) -> None:
        problems.append(f"{where}: {message}" if where else message)

    if not _object(
        document,
        "",
        report,
        required=("inputs", "outputs"),
        optional=("batch", "image", "requirements", "network"),
    ):
        return problems
    if "network" in document and not isinstance(document["network"], bool):
        report("network", f"must be true or false, not {_kind(document['network'])}")
    for key in ("inputs", "outputs"):
        if key in document:
            _tensors(document[key], key, report)
    if "batch" in document:
        _batch(document["batch"], report)
    if "image" in document:
        _image(document["image"], report)
        inputs = document.get("inputs")
        if isinstance(inputs, list) and not any(
            isinstance(item, dict) and item.get("type") == "image" for item in inputs
        ):
            report("image", "image options need an input of type 'image'")
    if "requirements" in document:
        _requirements(document["requirements"], report)
    return problems


def _object(
    value: Any, where: str, report: Report, *, required: tuple[str, ...], optional: tuple[str, ...]
) -> bool:
    if not isinstance(value, dict):
        report(where, f"must be an object, not {_kind(value)}")
        return False
    for key in required:
        if key not in value:
            report(where, f"the key {key!r} is required")
    allowed = ", ".join(required + optional)
    for key in value:
        if key not in required and key not in optional:
            report(where, f"unknown key {key!r} (allowed: {allowed})")
    return True


def _tensors(value: Any, where: str, report: Report) -> None:
    if not isinstance(value, list) or not value:
        report(where, "must be a non-empty list of tensors")
        return
    names: set[str] = set()
    for index, tensor in enumerate(value):
        at = f"{where}[{index}]"
        if not _object(tensor, at, report, required=("name", "type", "shape"), optional=()):
            continue
        name = tensor.get("name")
        if "name" in tensor and not (isinstance(name, str) and _NAME.fullmatch(name)):
            report(
                f"{at}.name",
                "must be a letter or '_' then letters, digits or '_.:/-' (at most 128)",
            )
        elif isinstance(name, str) and name in names:
            report(f"{at}.name", f"{name!r} is used twice in {where}")
        if isinstance(name, str):
            names.add(name)
        if "type" in tensor and tensor["type"] not in TENSOR_TYPES:
            report(f"{at}.type", f"{tensor['type']!r} is not one of {', '.join(TENSOR_TYPES)}")
        if "shape" in tensor:
            _shape(tensor["shape"], f"{at}.shape", report)


def _shape(value: Any, where: str, report: Report) -> None:
    if not isinstance(value, list) or len(value) > 32:
        report(where, "must be a list of at most 32 integers")
    elif not all(_integer(size) and (size >= 1 or size == -1) for size in value):
        report(where, "sizes must be integers >= 1, or -1 for a dynamic size")


def _batch(value: Any, report: Report) -> None:
    if not _object(value, "batch", report, required=("max_batch_size",), optional=("timeout_ms",)):
        return
    size = value.get("max_batch_size")
    if "max_batch_size" in value and not (_integer(size) and 1 <= size <= 65536):
        report("batch.max_batch_size", "must be an integer from 1 to 65536")
    timeout = value.get("timeout_ms")
    if "timeout_ms" in value and not (_integer(timeout) and 0 <= timeout <= 60000):
        report("batch.timeout_ms", "must be an integer from 0 to 60000")


def _image(value: Any, report: Report) -> None:
    if not _object(
        value, "image", report, required=(), optional=("formats", "resize", "normalize")
    ):
        return
    formats = value.get("formats")
    if "formats" in value and not (
        isinstance(formats, list)
        and formats
        and all(item in IMAGE_FORMATS for item in formats)
        and len(set(formats)) == len(formats)
    ):
        report("image.formats", f"must be a non-empty list of {', '.join(IMAGE_FORMATS)}")
    resize = value.get("resize")
    if "resize" in value and not (
        isinstance(resize, list)
        and len(resize) == 2
        and all(_integer(n) and n >= 1 for n in resize)
    ):
        report("image.resize", "must be [height, width], integers >= 1")
    if "normalize" in value:
        _normalize(value["normalize"], report)


def _normalize(value: Any, report: Report) -> None:
    if not _object(value, "image.normalize", report, required=("mean", "std"), optional=()):
        return
    mean, std = value.get("mean"), value.get("std")
    if "mean" in value and not _numbers(mean):
        report("image.normalize.mean", "must be a list of 1 to 4 numbers")
    if "std" in value and not (_numbers(std) and all(number > 0 for number in std)):
        report("image.normalize.std", "must be a list of 1 to 4 numbers, each > 0")
    elif _numbers(mean) and _numbers(std) and len(std) != len(mean):
        report("image.normalize", "mean and std must have the same length")


def _requirements(value: Any, report: Report) -> None:
    if not isinstance(value, list):
        report("requirements", f"must be a list of strings, not {_kind(value)}")
        return
    for index, item in enumerate(value):
        if not isinstance(item, str) or not _REQUIREMENT.fullmatch(item.strip()):
            report(
                f"requirements[{index}]",
                "must be a pip requirement such as 'numpy>=1.26' (pip options are not allowed)",
            )


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(value: Any) -> bool:
    return (
        isinstance(value, list)
        and 1 <= len(value) <= 4
        and all(
            isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n)
            for n in value
        )
    )


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
