# mypy: disable-error-code="import-untyped"
"""The model every server in the serving benchmark runs: a scikit-learn LogisticRegression
on a synthetic iris-like data set (3 classes, 4 features), exported to ONNX with plain
tensor outputs (``label`` INT64 and ``probabilities`` FP32, no ZipMap).

scikit-learn and skl2onnx are benchmark tools, not project dependencies: the model is fitted
and exported by this module run as a script in the peers' virtualenv (bench/.venv-mlflow,
where they are installed when missing), never in the project's, which holds only its lock.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class ModelFiles:
    onnx: Path  # the ONNX file modelrepo and the bare endpoint serve
    pickle: Path  # the fitted scikit-learn estimator, for MLflow's sklearn flavour
    data: Path  # .npz with X (float32) and y, the training rows
    input_name: str


PEER_VENV = Path(__file__).resolve().parent / ".venv-mlflow"


def tools_python() -> Path:
    """The peers' python, with scikit-learn and skl2onnx (installed there when missing)."""
    from _procs import ensure_venv

    python = ensure_venv(PEER_VENV)
    probe = subprocess.run([str(python), "-c", "import sklearn, skl2onnx"], capture_output=True)
    if probe.returncode != 0:
        print(f"installing scikit-learn, skl2onnx into {PEER_VENV} (one-off) ...", flush=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "scikit-learn", "skl2onnx"], check=True)
    return python


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
    """Fit, export and save the model under ``directory`` (in the peers' virtualenv)."""
    done = subprocess.run(
        [str(tools_python()), __file__, str(directory)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the benchmark model failed:\n{done.stderr}")
    input_name = done.stdout.strip().splitlines()[-1]
    return ModelFiles(
        directory / "model.onnx", directory / "model.pkl", directory / "data.npz", input_name
    )


def _fit_and_export(directory: Path) -> str:
    """Run by ``build`` in the peers' virtualenv; returns the ONNX graph's input name."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    directory.mkdir(parents=True, exist_ok=True)
    x, y = dataset()
    model = LogisticRegression(max_iter=1000).fit(x, y)
    onnx_model: Any = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    (directory / "model.onnx").write_bytes(onnx_model.SerializeToString())
    (directory / "model.pkl").write_bytes(pickle.dumps(model))
    np.savez(directory / "data.npz", x=x, y=y)
    return str(onnx_model.graph.input[0].name)


def body(instances: list[list[float]]) -> bytes:
    """The v1 request every server gets: ``{"instances": [[f1, f2, f3, f4], ...]}``."""
    return json.dumps({"instances": instances}, separators=(",", ":")).encode()


if __name__ == "__main__":
    print(_fit_and_export(Path(sys.argv[1])))
