"""In-process references: onnxruntime on the same rows with no server, with and without
the JSON decoding and encoding a server does; and the versions of what runs."""

from __future__ import annotations

import json
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from _serving_model import ModelFiles
from _serving_report import ORT, ORT_JSON

WARMUP = 5
PACKAGES = ("onnxruntime", "numpy", "uvicorn", "uvloop", "httptools", "starlette")


def commit() -> str:
    """The work tree's commit (and whether app/ has uncommitted changes)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "app", "domain", "projections"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes in app/' if dirty else ''}"


def versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (absent)")
    return ", ".join(found)


def _session(path: Path) -> Any:
    # The settings modelrepo's ONNX runtime uses.
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _timed(call: Any, calls: int) -> list[float]:
    for _ in range(WARMUP):
        call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def in_process(files: ModelFiles, body_file: Path, calls: int) -> dict[str, list[float]]:
    """Latencies (ms) of ``calls`` runs on the request's rows: session.run alone, and
    json.loads + numpy + session.run + the v1 answer + json.dumps."""
    session = _session(files.onnx)
    payload = body_file.read_bytes()
    names = [output.name for output in session.get_outputs()]
    rows = np.asarray(json.loads(payload)["instances"], dtype=np.float32)

    def run() -> None:
        session.run(names, {files.input_name: rows})

    def round_trip() -> None:
        features = np.asarray(json.loads(payload)["instances"], dtype=np.float32)
        values = session.run(names, {files.input_name: features})
        columns = [value.tolist() for value in values]
        answer = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        json.dumps({"predictions": answer})

    return {ORT: _timed(run, calls), ORT_JSON: _timed(round_trip, calls)}
