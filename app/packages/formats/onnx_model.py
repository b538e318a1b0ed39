"""ONNX: every ``*.onnx`` file (or the package's only file) must be a valid ONNX model.

The protobuf is parsed without its external data, every external tensor's ``location`` must
name an existing file inside the package, and then ``onnx.checker`` checks the model by path
(so models over 2 GB with external data are checked without loading their weights).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from app.packages.formats._sniff import describe
from app.packages.inventory import Package
from app.packages.problems import Problem

if TYPE_CHECKING:
    import onnx


def check_onnx(package: Package) -> list[Problem]:
    candidates = package.candidates(".onnx")
    if not candidates:
        return [Problem("", "no ONNX model (a .onnx file) in the package")]
    problems: list[Problem] = []
    for name in candidates:
        problems += _check_model_file(package, name)
    return problems


def _check_model_file(package: Package, name: str) -> list[Problem]:
    import onnx  # imported on first use: it takes a fifth of a second

    if not package.files[name]:
        return [Problem(name, "the model file is empty")]
    path = package.path(name)
    kind = describe(package.head(name))
    if kind:
        return [Problem(name, f"not an ONNX model: it is {kind}")]
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, or whatever a hostile file provokes
        return [Problem(name, f"not an ONNX model: it cannot be parsed ({exc})")]
    if not model.ir_version or not model.HasField("graph"):
        return [Problem(name, "not an ONNX model: it has no IR version or no graph")]
    problems = [Problem(name, message) for message in _external_data_problems(model, package, name)]
    if problems:
        return problems  # the checker would only repeat them, less clearly
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # ValidationError, or the C++ loader's parse errors
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [Problem(name, f"the ONNX checker rejects the model: {first_line}")]
    return []


def _external_data_problems(model: onnx.ModelProto, package: Package, name: str) -> Iterator[str]:
    from onnx import TensorProto

    root = os.path.realpath(package.root)
    folder = PurePosixPath(name).parent
    for tensor in _tensors(model.graph):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        label = f"tensor {tensor.name!r}"
        if not location:
            yield f"{label} has external data without a location"
            continue
        parts = location.replace("\\", "/").split("/")
        if location.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts:
            yield f"{label} points outside the package: {location!r}"
            continue
        target = Path(package.root, folder, location)
        if os.path.commonpath([root, os.path.realpath(target)]) != root:
            yield f"{label} points outside the package: {location!r}"
        elif not target.is_file():
            yield f"{label} points to {location!r}, which is not in the package"
        else:
            end = _int(info.get("offset", "0")) + _int(info.get("length", "0"))
            if end > target.stat().st_size:
                yield f"{label} reads past the end of {location!r}"


def _int(value: str) -> int:
    try:
        return max(int(value), 0)
    except ValueError:
        return 0


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor of the graph and its subgraphs that may hold external data."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)
