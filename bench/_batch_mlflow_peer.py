# mypy: disable-error-code="import-not-found, import-untyped"
"""Saves the batch benchmark's ONNX model as an MLflow model (onnx flavour) with a tensor
signature (float32, (-1, 20)), so `mlflow models predict` feeds CSV rows to it as the same
array the other peers use. Runs in the peer's virtualenv (bench/.venv-mlflow).

    python _batch_mlflow_peer.py MODEL.onnx OUT_DIR
"""

from __future__ import annotations

import sys

import mlflow
import mlflow.onnx
import numpy as np
import onnx
import pandas as pd
from mlflow.models import infer_signature


def main() -> None:
    model_path, out = sys.argv[1], sys.argv[2]
    x = pd.DataFrame(np.zeros((2, 20)), columns=[f"f{i:02d}" for i in range(20)])
    y = np.zeros((2, 1), dtype=np.float32)
    mlflow.onnx.save_model(onnx.load(model_path), out, signature=infer_signature(x, y))
    print(mlflow.__version__)


if __name__ == "__main__":
    main()
