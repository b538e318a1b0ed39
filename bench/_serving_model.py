# mypy: disable-error-code="import-untyped"
"""The model every server in the serving benchmark runs: a scikit-learn LogisticRegression
on a synthetic iris-like data set (3 classes, 4 features), exported to ONNX with plain
tensor outputs (``label`` INT64 and ``probabilities`` FP32, no ZipMap).

scikit-learn and skl2onnx are benchmark tools, not project dependencies: when missing from
the running virtualenv they are installed into it (pip), with a note on stdout.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Iris-like class centres (sepal length, sepal width, petal length, petal width).
CENTRES = ((5.0, 3.4, 1.5, 0.25), (5.9, 2.8, 4.3, 1.3), (6.6, 3.0, 5.5, 2.0))
ROWS_PER_CLASS = 50
SPREAD = 0.3
SINGLE_ROW = [5.1, 3.5, 1.4, 0.2]
TOOLS = ("sklearn", "skl2onnx")


@dataclass(frozen=True)
class ModelFiles:
    onnx: Path  # the ONNX file modelrepo and the bare endpoint serve
    pickle: Path  # the fitted scikit-learn estimator, for MLflow's sklearn flavour
    data: Path  # .npz with X (float32) and y, the training rows
    input_name: str


def ensure_tools() -> list[str]:
    """Install scikit-learn and skl2onnx into this interpreter's environment if missing;
    returns what was installed."""
    missing = [name for name in TOOLS if importlib.util.find_spec(name) is None]
    if not missing:
        return []
    packages = ["scikit-learn" if name == "sklearn" else name for name in missing]
    print(f"installing {' '.join(packages)} into {sys.prefix} (benchmark only) ...", flush=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *packages], check=True)
    importlib.invalidate_caches()
    return packages


def dataset(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(c, SPREAD, size=(ROWS_PER_CLASS, 4)) for c in CENTRES])
    y = np.repeat(np.arange(len(CENTRES)), ROWS_PER_CLASS)
    return x.astype(np.float32), y


def rows(count: int, seed: int = 1) -> list[list[float]]:
    """``count`` iris-like rows (rounded like real measurements) for requests."""
    rng = np.random.default_rng(seed)
    centres = np.asarray(CENTRES)[rng.integers(0, len(CENTRES), size=count)]
    values = np.round(rng.normal(centres, SPREAD), 1)
    return [[float(v) for v in row] for row in values]


def build(directory: Path) -> ModelFiles:
    """Fit, export and save the model under ``directory``."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    directory.mkdir(parents=True, exist_ok=True)
    x, y = dataset()
    model = LogisticRegression(max_iter=1000).fit(x, y)
    onnx_model: Any = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    onnx_path = directory / "model.onnx"
    onnx_path.write_bytes(onnx_model.SerializeToString())
    pickle_path = directory / "model.pkl"
    pickle_path.write_bytes(pickle.dumps(model))
    data_path = directory / "data.npz"
    np.savez(data_path, x=x, y=y)
    input_name = str(onnx_model.graph.input[0].name)
    return ModelFiles(onnx_path, pickle_path, data_path, input_name)


def body(instances: list[list[float]]) -> bytes:
    """The v1 request every server gets: ``{"instances": [[f1, f2, f3, f4], ...]}``."""
    return json.dumps({"instances": instances}, separators=(",", ":")).encode()
