"""PyTorch (native) export to TorchScript or ONNX, given an example input. The model is
built by the package's ``model_service.py``, which is user code, so the export runs in a
sandboxed process of its own (``app.sandbox``, ``_export_worker``) with a CPU-time cap and no
server secrets, writing only into a folder of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path

import numpy as np

from app.optimize import _export_worker
from app.optimize.inputs import Sample
from app.optimize.report import Measured
from app.sandbox import Sandbox, SandboxUnavailable
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
    sandbox: Sandbox,
) -> Measured:
    """Write the export to ``target``; the eager model's p50 and outputs (the "before")."""
    # The worker sees the package read-only and a folder of its own for what it writes.
    job = target.parent / f"{target.stem}-export"
    await asyncio.to_thread(job.mkdir)
    inputs, reference = job / "inputs.npz", job / "reference.npz"
    arrays = {f"example/{n}": a for n, a in example.items()}
    arrays |= {f"{i}/{n}": a for i, s in enumerate(samples) for n, a in s.items()}
    await asyncio.to_thread(lambda: np.savez(inputs, **arrays))  # type: ignore[arg-type]
    layout = sandbox.layout(package, job)
    assert layout.work_dir is not None
    settings = {
        "model_dir": layout.model_dir,
        "target": "onnx" if method == Method.PYTORCH_EXPORT_ONNX else "torchscript",
        "output": f"{layout.work_dir}/{target.name}",
        "inputs": f"{layout.work_dir}/{inputs.name}",
        "reference": f"{layout.work_dir}/{reference.name}",
        "repeats": repeats,
        "cpu_seconds": int(seconds * (os.cpu_count() or 1)) + 1,
    }
    try:
        process = await sandbox.start(
            Path(_export_worker.__file__),
            [json.dumps(settings)],
            layout,
            package=package,
            work=job,
            stdin=asyncio.subprocess.DEVNULL,
        )
    except SandboxUnavailable as exc:
        layout.cleanup()
        raise ExportFailed(str(exc)) from None
    try:
        out, err = await asyncio.wait_for(process.communicate(), seconds)
    except TimeoutError:
        raise ExportFailed(f"the export took longer than {seconds:g} s") from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # bwrap, and so the whole sandbox
            await process.wait()
        await asyncio.to_thread(layout.cleanup)
    lines = out.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if not answer.get("ok"):
        why = answer.get("error") or err.decode("utf-8", "replace").strip()[-1000:]
        raise ExportFailed(f"the export failed: {why or f'exit status {process.returncode}'}")
    await asyncio.to_thread(os.replace, job / target.name, target)
    stored = await asyncio.to_thread(lambda: dict(np.load(reference)))
    outputs: list[dict[str, np.ndarray]] = [{} for _ in samples]
    for key, value in stored.items():
        index, name = key.split("/", 1)
        outputs[int(index)][name] = value
    return Measured(float(answer["p50_ms"]), outputs)
