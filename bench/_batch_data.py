"""The batch benchmark's inputs: a small ONNX MLP over 20 features and N rows of those
features (plus an ``id`` column) as CSV and as Parquet, written once into a work folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES = 20
HIDDEN = 64
SEED = 7


@dataclass(frozen=True)
class Inputs:
    model: Path
    csv: Path  # id + features, what the jobs and the in-process peer read
    parquet: Path
    features_csv: Path  # features only, what `mlflow models predict` reads
    rows: int


def columns() -> list[str]:
    return [f"f{i:02d}" for i in range(FEATURES)]


def build_model(path: Path) -> None:
    """x (N, 20) float32 -> y (N, 1): MatMul, Add, Relu, MatMul, Add."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(SEED)
    w1 = rng.normal(0, 0.3, (FEATURES, HIDDEN)).astype(np.float32)
    b1 = rng.normal(0, 0.1, HIDDEN).astype(np.float32)
    w2 = rng.normal(0, 0.3, (HIDDEN, 1)).astype(np.float32)
    b2 = np.zeros(1, dtype=np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["y0"]),
        helper.make_node("Add", ["y0", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [
            numpy_helper.from_array(a, n)
            for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def write_inputs(folder: Path, rows: int) -> Inputs:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    found = Inputs(
        folder / "model.onnx",
        folder / f"data-{rows}.csv",
        folder / f"data-{rows}.parquet",
        folder / f"features-{rows}.csv",
        rows,
    )
    if not found.model.exists():
        build_model(found.model)
    if all(p.exists() for p in (found.csv, found.parquet, found.features_csv)):
        return found
    rng = np.random.default_rng(SEED)
    values = rng.normal(0, 1, (rows, FEATURES)).astype(np.float32).round(4)
    frame = pd.DataFrame(values, columns=columns())
    frame.insert(0, "id", [f"r{i}" for i in range(rows)])
    frame.to_csv(found.csv, index=False, float_format="%.4f")
    frame.drop(columns=["id"]).to_csv(found.features_csv, index=False, float_format="%.4f")
    # row groups of 50k rows, as a writer of large files would
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), found.parquet, 50_000)
    return found
