"""Optimization benchmark: a 3-layer MLP classifier in ONNX (hidden 512, 10 classes) and a
small CNN in TorchScript, each optimized by every method that fits it, with p50 latency at
batch sizes 1 and 64 before and after (ratios), file sizes and output agreement.

The MLP is trained here first (a few seconds on one CPU thread, on a synthetic 10-class task:
see ``_optimize_models``) and its top-1 agreement is measured on held-out samples from the
same distribution, with the accuracy of each variant against the true classes. The same MLP
with random weights over random inputs is measured too, labelled as such: its class scores
are nearly tied, which makes top-1 agreement a stress test rather than the classifier figure.
Target: int8 at least 1.5x faster on the MLP with top-1 agreement of at least 99%.
Prints figures; asserts nothing.

    .venv/bin/python bench/optimize.py [--repeats 200] [--epochs 6]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _optimize_models import FEATURES, HIDDEN, cnn, random_mlp, trained_mlp

from app.optimize import onnx_methods, torchscript_methods
from app.optimize.runners import Runner, onnx_runner, torchscript_runner
from domain.optimization import Method

warnings.filterwarnings("ignore", category=DeprecationWarning)
RANDOM_ROWS = 4096


@dataclass(frozen=True, slots=True)
class Inputs:
    timed: dict[int, dict[str, np.ndarray]]  # by batch size
    checked: dict[str, np.ndarray]  # the samples whose outputs are compared
    labels: np.ndarray | None = None  # their true classes, when known


def p50_ms(run: Runner, sample: dict[str, np.ndarray], repeats: int) -> float:
    for _ in range(5):
        run(sample)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(sample)
        timings.append(time.perf_counter() - start)
    return float(np.median(timings)) * 1000


def scores(run: Runner, inputs: dict[str, np.ndarray]) -> np.ndarray:
    return next(iter(run(inputs).values())).astype(np.float64)


def report(
    title: str,
    source: Path,
    variants: dict[str, Path],
    make: Callable[[Path], Runner],
    inputs: Inputs,
    repeats: int,
) -> None:
    base = make(source)
    before = {b: p50_ms(base, sample, repeats) for b, sample in inputs.timed.items()}
    reference = scores(base, inputs.checked)
    accuracy = inputs.labels is not None
    print(f"\n{title}")
    print(
        f"  {'method':34} {'p50 b=1 ms':>11} {'x':>6} {'p50 b=64 ms':>12} {'x':>6}"
        f" {'size KiB':>9} {'top-1 agr.':>10} {'max|diff|':>10}"
        + ("  accuracy" if accuracy else "")
    )
    own = f"{np.mean(reference.argmax(-1) == inputs.labels):10.2%}" if accuracy else ""
    print(
        f"  {'(source)':34} {before[1]:11.4f} {1:6.2f} {before[64]:12.4f} {1:6.2f}"
        f" {source.stat().st_size / 1024:9.0f} {'':>10} {'':>10}{own}"
    )
    for label, path in variants.items():
        run = make(path)
        after = {b: p50_ms(run, sample, repeats) for b, sample in inputs.timed.items()}
        found = scores(run, inputs.checked)
        top1 = float(np.mean(reference.argmax(-1) == found.argmax(-1)))
        diff = float(np.abs(reference - found).max())
        right = f"  {np.mean(found.argmax(-1) == inputs.labels):8.2%}" if accuracy else ""
        print(
            f"  {label:34} {after[1]:11.4f} {before[1] / after[1]:6.2f} {after[64]:12.4f}"
            f" {before[64] / after[64]:6.2f} {path.stat().st_size / 1024:9.0f}"
            f" {top1:10.2%} {diff:10.2e}{right}"
        )


def onnx_variants(source: Path, work: Path) -> dict[str, Path]:
    variants: dict[str, Path] = {}
    for method in (*onnx_methods.LEVELS, Method.ONNX_INT8_DYNAMIC, Method.ONNX_FP16):
        target = work / f"{source.stem}-{method.value}.onnx"
        if method in onnx_methods.LEVELS:
            onnx_methods.optimize_graph(source, target, method)
        elif method == Method.ONNX_INT8_DYNAMIC:
            onnx_methods.quantize_int8(source, target)
        else:
            onnx_methods.to_fp16(source, target)
        variants[method.value] = target
    return variants


def bench_mlps(work: Path, repeats: int, epochs: int) -> None:
    trained = trained_mlp(work / "mlp-trained.onnx", epochs=epochs)
    rows = {b: {"x": trained.held_out[:b]} for b in (1, 64)}
    report(
        f"MLP {FEATURES}-{HIDDEN}-{HIDDEN}-10, TRAINED (ONNX, onnxruntime CPU, 1 thread):"
        f" trained {trained.seconds:.1f} s, train accuracy {trained.train_accuracy:.2%};"
        f" agreement and accuracy on {len(trained.labels)} held-out samples",
        trained.path,
        onnx_variants(trained.path, work),
        onnx_runner,
        Inputs(rows, {"x": trained.held_out}, trained.labels),
        repeats,
    )
    rng = np.random.default_rng(1)
    source = random_mlp(work / "mlp-random.onnx")
    rows = {b: {"x": rng.normal(size=(b, FEATURES)).astype(np.float32)} for b in (1, 64)}
    checked = {"x": rng.normal(size=(RANDOM_ROWS, FEATURES)).astype(np.float32)}
    report(
        f"MLP {FEATURES}-{HIDDEN}-{HIDDEN}-10, RANDOM weights (untrained; nearly tied class"
        f" scores), agreement on {RANDOM_ROWS} random N(0, 1) inputs",
        source,
        onnx_variants(source, work),
        onnx_runner,
        Inputs(rows, checked),
        repeats,
    )


def bench_cnn(work: Path, repeats: int) -> None:
    script = cnn(work / "cnn.pt")
    variants = {}
    for method, apply in (
        (Method.TORCHSCRIPT_FREEZE, torchscript_methods.freeze),
        (Method.TORCHSCRIPT_OPTIMIZE_FOR_INFERENCE, torchscript_methods.optimize_for_inference),
    ):
        target = work / f"{method.value}.pt"
        note = apply(script, target)
        print(f"  ({method.value}: {note})")
        variants[method.value] = target
    rng = np.random.default_rng(1)
    shape = (3, 32, 32)
    rows = {b: {"x": rng.normal(size=(b, *shape)).astype(np.float32)} for b in (1, 64)}
    checked = {"x": rng.normal(size=(1024, *shape)).astype(np.float32)}
    report(
        "CNN conv16-bn-conv32-bn-linear on 3x32x32, random weights (TorchScript, 1 thread),"
        " agreement on 1024 random inputs",
        script,
        variants,
        torchscript_runner,
        Inputs(rows, checked),
        repeats,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=6, help="training epochs of the MLP")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # onnxruntime runs with one intra-op thread too
    with tempfile.TemporaryDirectory() as folder:
        bench_mlps(Path(folder), args.repeats, args.epochs)
        bench_cnn(Path(folder), args.repeats)


if __name__ == "__main__":
    main()
