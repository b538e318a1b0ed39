"""PyTorch (native) export to TorchScript or ONNX, given an example input. The model is
built by the package's ``model_service.py``, which is user code, so the export runs in a
process of its own (see ``_export_worker``) with a CPU-time cap and no server secrets."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import numpy as np

from app.optimize import _export_worker
from app.optimize.inputs import Sample
from app.optimize.report import Measured
from domain.optimization import Method


class ExportFailed(Exception):
    pass


async def export(
    method: Method,
    package: Path,
    target: Path,
    example: Sample,
    samples: list[Sample],
    *,
    repeats: int,
    seconds: float,
) -> Measured:
    """Write the export to ``target``; the eager model's p50 and outputs (the "before")."""
    # Absolute paths: the worker runs in the package folder.
    package, work = (
        await asyncio.to_thread(package.resolve),
        await asyncio.to_thread(target.parent.resolve),
    )
    target = work / target.name
    inputs, reference = work / "export-inputs.npz", work / "export-reference.npz"
    arrays = {f"example/{n}": a for n, a in example.items()}
    arrays |= {f"{i}/{n}": a for i, s in enumerate(samples) for n, a in s.items()}
    await asyncio.to_thread(lambda: np.savez(inputs, **arrays))  # type: ignore[arg-type]
    settings = {
        "model_dir": str(package),
        "target": "onnx" if method == Method.PYTORCH_EXPORT_ONNX else "torchscript",
        "output": str(target),
        "inputs": str(inputs),
        "reference": str(reference),
        "repeats": repeats,
        "cpu_seconds": int(seconds * (os.cpu_count() or 1)) + 1,
    }
    home = str(work)
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": home, "TMPDIR": home}
    env |= {"LANG": "C.UTF-8", "PYTHONPATH": str(package), "PYTHONNOUSERSITE": "1"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-P", "-s", _export_worker.__file__, json.dumps(settings)),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=package,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ExportFailed(f"the export took longer than {seconds:g} s") from None
    lines = out.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if not answer.get("ok"):
        why = answer.get("error") or err.decode("utf-8", "replace").strip()[-1000:]
        raise ExportFailed(f"the export failed: {why or f'exit status {process.returncode}'}")
    stored = await asyncio.to_thread(lambda: dict(np.load(reference)))
    outputs: list[dict[str, np.ndarray]] = [{} for _ in samples]
    for key, value in stored.items():
        index, name = key.split("/", 1)
        outputs[int(index)][name] = value
    return Measured(float(answer["p50_ms"]), outputs)
