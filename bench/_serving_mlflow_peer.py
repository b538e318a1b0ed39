# mypy: disable-error-code="import-not-found, import-untyped"
"""Saves the benchmark's fitted scikit-learn model as an MLflow model (sklearn flavour);
runs in the peer's own virtualenv (bench/.venv-mlflow), never in ours.

    python _serving_mlflow_peer.py --pickle model.pkl --data data.npz --out DIR

The signature is a tensor spec inferred from the training rows (float32, shape (-1, 4)),
so ``{"instances": [[...]]}`` reaches the model as the same numpy array modelrepo gets.
Prints one JSON line: {"mlflow": ..., "sklearn": ..., "agree": <share of training rows
whose label matches the pickled model's>}.
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import sklearn
from mlflow.models import infer_signature


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pickle", required=True, type=Path)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    model = pickle.loads(args.pickle.read_bytes())  # our own file, written moments ago
    data = np.load(args.data)
    x, y = data["x"], data["y"]
    labels = model.predict(x)
    mlflow.sklearn.save_model(model, str(args.out), signature=infer_signature(x, labels))
    loaded = mlflow.pyfunc.load_model(str(args.out))
    agree = float(np.mean(np.asarray(loaded.predict(x)) == labels))
    print(
        json.dumps(
            {
                "mlflow": mlflow.__version__,
                "sklearn": sklearn.__version__,
                "train_accuracy": float(np.mean(labels == y)),
                "agree": agree,
            }
        )
    )


if __name__ == "__main__":
    main()
