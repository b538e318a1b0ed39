"""The optimization benchmark's models, built at run time: a 3-layer MLP classifier (512
features, hidden 512, 10 classes) trained on a synthetic task and exported to ONNX, the same
architecture with random weights, and a small CNN in TorchScript.

The task: 10 Gaussian clusters in a 16-dimensional latent space, seen through a fixed random
linear map into 512 features plus noise. The clusters overlap, so the classes are not
trivially separable and the held-out set has samples near the decision boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES, HIDDEN, CLASSES = 512, 512, 10
LATENT = 16
TRAIN_ROWS, HELD_OUT_ROWS = 20_000, 4_096


@dataclass(frozen=True, slots=True)
class Task:
    centers: np.ndarray  # (CLASSES, LATENT)
    lift: np.ndarray  # (LATENT, FEATURES)

    @classmethod
    def make(cls, seed: int = 0) -> Task:
        rng = np.random.default_rng(seed)
        centers = rng.normal(0.0, 1.1, (CLASSES, LATENT))
        lift = rng.normal(0.0, 1.0 / np.sqrt(LATENT), (LATENT, FEATURES))
        return cls(centers, lift)

    def draw(self, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``rows`` samples (float32, (rows, FEATURES)) and their classes."""
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, CLASSES, rows)
        latent = self.centers[labels] + rng.normal(0.0, 1.0, (rows, LATENT))
        x = latent @ self.lift + rng.normal(0.0, 0.3, (rows, FEATURES))
        return x.astype(np.float32), labels


@dataclass(frozen=True, slots=True)
class Trained:
    path: Path
    held_out: np.ndarray
    labels: np.ndarray
    train_accuracy: float
    seconds: float


def _mlp_module() -> object:
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, CLASSES),
    )


def _export(module: object, path: Path) -> None:
    import torch

    torch.onnx.export(
        module,  # type: ignore[arg-type]
        (torch.zeros(1, FEATURES),),
        str(path),
        input_names=["x"],
        output_names=["scores"],
        dynamic_axes={"x": {0: "batch"}, "scores": {0: "batch"}},
        dynamo=False,  # the TorchScript-based exporter, as PYTORCH_EXPORT_ONNX uses
    )


def trained_mlp(path: Path, epochs: int = 6, seed: int = 0) -> Trained:
    """Train the MLP with Adam on the synthetic task (a few seconds on one CPU thread),
    export it to ONNX; the held-out samples are drawn apart from the training ones."""
    import time

    import torch

    task = Task.make(seed)
    x, y = task.draw(TRAIN_ROWS, seed + 1)
    held_out, labels = task.draw(HELD_OUT_ROWS, seed + 2)
    torch.manual_seed(seed)
    module = _mlp_module()
    assert isinstance(module, torch.nn.Module)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    features, targets = torch.from_numpy(x), torch.from_numpy(y)
    start = time.perf_counter()
    module.train()
    for _ in range(epochs):
        for batch in torch.split(torch.randperm(TRAIN_ROWS), 128):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(module(features[batch]), targets[batch])
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
    seconds = time.perf_counter() - start
    module.eval()
    with torch.no_grad():
        predicted = module(features).argmax(-1).numpy()
    _export(module, path)
    return Trained(path, held_out, labels, float(np.mean(predicted == y)), seconds)


def random_mlp(path: Path, seed: int = 0) -> Path:
    """The same architecture with He-initialized random weights (untrained: its class scores
    are close together, so small numeric changes flip the top-1 class more often)."""
    import torch

    torch.manual_seed(seed)
    module = _mlp_module()
    assert isinstance(module, torch.nn.Module)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                torch.nn.init.zeros_(layer.bias)
    _export(module.eval(), path)
    return path


def cnn(path: Path) -> Path:
    """conv16-bn-relu-conv32-bn-relu-mean-linear on 3x32x32, traced to TorchScript."""
    import torch

    class Cnn(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(
                torch.nn.Conv2d(3, 16, 3, padding=1),
                torch.nn.BatchNorm2d(16),
                torch.nn.ReLU(),
                torch.nn.Conv2d(16, 32, 3, padding=1),
                torch.nn.BatchNorm2d(32),
                torch.nn.ReLU(),
            )
            self.head = torch.nn.Linear(32, CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(x).mean(dim=(2, 3)))  # type: ignore[no-any-return]

    torch.manual_seed(0)
    model = Cnn().eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so folding matters
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    traced = torch.jit.trace(model, torch.zeros(1, 3, 32, 32))  # type: ignore[no-untyped-call]
    torch.jit.save(traced, str(path))
    return path
