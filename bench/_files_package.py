"""The ONNX packages of the file benchmark, built at run time.

The big package is what a real exported model with external data looks like: a small
``model.onnx`` whose large initializer lives in ``weights.bin`` (ONNX external data, the
layout ``onnx.save_model(..., save_as_external_data=True)`` produces). The checker reads
the model by path and never loads the weights, so the import measures moving bytes.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MIB = 1024 * 1024
COLUMNS = 256  # the weight matrix is rows x 256 float32
_ROWS_PER_WRITE = 4096  # 4 MiB of float32 per write
_OPSET = 17
_IR_VERSION = 8


@dataclass(frozen=True, slots=True)
class Package:
    folder: Path  # model.onnx + weights.bin
    archive: Path  # the same two files in a ZIP_STORED zip
    files: dict[str, int]  # name -> size

    @property
    def size(self) -> int:
        return sum(self.files.values())


def build_package(dest: Path, size_mb: float, *, seed: int = 0) -> Package:
    """``dest/package/{model.onnx,weights.bin}`` of about ``size_mb`` MiB, and their zip."""
    rows = max(1, int(size_mb * MIB) // (COLUMNS * 4))
    folder = dest / "package"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    with (folder / "weights.bin").open("wb") as out:
        for start in range(0, rows, _ROWS_PER_WRITE):
            count = min(_ROWS_PER_WRITE, rows - start)
            out.write(rng.standard_normal((count, COLUMNS), dtype=np.float32).tobytes())
    model_path = folder / "model.onnx"
    model_path.write_bytes(_matmul_model(rows, "weights.bin").SerializeToString())
    onnx.checker.check_model(str(model_path))  # by path: the weights stay on disk
    archive = dest / "package.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
        for name in ("model.onnx", "weights.bin"):
            zipped.write(folder / name, arcname=name)
    files = {name: (folder / name).stat().st_size for name in ("model.onnx", "weights.bin")}
    return Package(folder=folder, archive=archive, files=files)


def build_small_model(path: Path, rows: int = 64) -> int:
    """A single-file ONNX model with its (tiny) weights inside; returns its size."""
    weights = np.random.default_rng(1).standard_normal((rows, COLUMNS), dtype=np.float32)
    graph = _graph(rows, numpy_helper.from_array(weights, "w"))
    path.write_bytes(_model(graph).SerializeToString())
    onnx.checker.check_model(str(path))
    return path.stat().st_size


def _matmul_model(rows: int, location: str) -> onnx.ModelProto:
    weights = TensorProto()
    weights.name = "w"
    weights.data_type = TensorProto.FLOAT
    weights.dims.extend([rows, COLUMNS])
    weights.data_location = TensorProto.EXTERNAL
    length = rows * COLUMNS * 4
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = weights.external_data.add()
        entry.key = key
        entry.value = value
    return _model(_graph(rows, weights))


def _graph(rows: int, weights: TensorProto) -> onnx.GraphProto:
    bias = numpy_helper.from_array(np.zeros(COLUMNS, dtype=np.float32), "b")
    return helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
        ],
        "bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, COLUMNS])],
        initializer=[weights, bias],
    )


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="modelrepo-bench"
    )
    model.ir_version = _IR_VERSION
    return model
