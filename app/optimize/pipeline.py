"""One optimization from a source package to an optimized model file and its report.

``preflight`` checks the example input against the source model before a job is accepted;
``optimize`` applies the methods in order (each step's file feeding the next), then measures
the source and the result on the same samples. Blocking work runs in threads; the PyTorch
export in a process of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.optimize import onnx_methods, torchscript_methods
from app.optimize.inputs import Example, example_from_json, generate, samples
from app.optimize.pytorch_export import export
from app.optimize.report import Measured, compare, measure
from app.optimize.runners import Runner, onnx_inputs, onnx_runner, onnx_session, torchscript_runner
from app.packages.formats.pytorch import WEIGHTS_SUFFIXES
from app.packages.inventory import scan
from app.sandbox import Sandbox
from app.serving.runtimes.base import find_model_file, read_config
from app.serving.runtimes.torchscript import find_torchscript
from domain.errors import ValidationError
from domain.formats import ModelFormat
from domain.optimization import Method

Log = Callable[[str, float], Awaitable[None]]
EXPORT_TIMEOUT = 900.0
_SUFFIX = {ModelFormat.ONNX: ".onnx", ModelFormat.TORCHSCRIPT: ".pt"}


@dataclass(frozen=True, slots=True)
class Outcome:
    model_file: Path
    report: dict[str, Any]


def source_model(package: Path, model_format: str, model_file: str | None) -> Path:
    """The source's model file (its recorded one, else found as the runtime finds it);
    the package itself for PyTorch native models."""
    if model_file:
        return package / model_file
    fmt = ModelFormat(model_format)
    if fmt == ModelFormat.ONNX:
        return find_model_file(package, (".onnx",), "model.onnx")
    if fmt == ModelFormat.TORCHSCRIPT:
        return find_torchscript(package)
    return package


def _runner(fmt: ModelFormat, path: Path) -> Runner:
    return onnx_runner(path) if fmt == ModelFormat.ONNX else torchscript_runner(path)


def example_for(package: Path, fmt: ModelFormat, model: Path, raw: Any) -> Example:
    """The example as arrays, checked against the declared inputs (blocking)."""
    if fmt == ModelFormat.ONNX:
        specs = onnx_inputs(onnx_session(model))
        if raw is None:
            return Example(generate(specs), generated=True)
        return Example(example_from_json(raw, specs), generated=False)
    config = read_config(package) if fmt == ModelFormat.TORCHSCRIPT else None
    return Example(example_from_json(raw, config.inputs if config else None), generated=False)


def preflight(package: Path, model_format: str, model_file: str | None, raw: Any) -> None:
    """Raises ValidationError when the example does not fit the source model (blocking)."""
    fmt = ModelFormat(model_format)
    model = source_model(package, model_format, model_file)
    example = example_for(package, fmt, model, raw)
    if fmt == ModelFormat.PYTORCH:
        return  # built by user code: checked in the export's own process
    try:
        _runner(fmt, model)(example.sample)
    except Exception as exc:  # onnxruntime and torch raise their own types for bad inputs
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError("exampleInput", f"the model rejects it: {first[:500]}") from None


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    package = scan(path)[0]
    return sum(package.files[name] for name in package.named(*WEIGHTS_SUFFIXES))


async def optimize(
    package: Path,
    model_format: str,
    model_file: str | None,
    methods: list[str],
    options: dict[str, Any],
    work: Path,
    log: Log,
    *,
    sandbox: Sandbox | None = None,
) -> Outcome:
    fmt = source_fmt = ModelFormat(model_format)
    source = source_model(package, model_format, model_file)
    example = await asyncio.to_thread(
        example_for, package, fmt, source, options.get("example_input")
    )
    found = samples(example.sample, int(options["samples"]))
    repeats = int(options["repeats"])
    before: Measured | None = None
    current, steps = source, len(methods) + 2
    for index, raw in enumerate(methods):
        method = Method(raw)
        await log(f"{method.value}: started", index / steps)
        if method in (Method.PYTORCH_EXPORT_ONNX, Method.PYTORCH_EXPORT_TORCHSCRIPT):
            fmt = (
                ModelFormat.ONNX
                if method == Method.PYTORCH_EXPORT_ONNX
                else ModelFormat.TORCHSCRIPT
            )
            target = work / f"step{index}{_SUFFIX[fmt]}"
            before = await export(
                method,
                package,
                target,
                example.sample,
                found,
                repeats=repeats,
                seconds=EXPORT_TIMEOUT,
                sandbox=sandbox or Sandbox(),
            )
            note = f"exported to {fmt.value} (traced with the example input)"
        else:
            target = work / f"step{index}{_SUFFIX[fmt]}"
            note = await asyncio.to_thread(_apply, method, current, target)
        await log(f"{method.value}: {note}; {target.stat().st_size} bytes", (index + 1) / steps)
        current = target
    await log("measuring latency and output agreement", len(methods) / steps + 1 / steps)

    def measure_all() -> dict[str, Any]:
        old = before
        if old is None:
            old = measure(_runner(source_fmt, source), example.sample, found, repeats)
        new = measure(_runner(fmt, current), example.sample, found, repeats)
        return compare(
            old,
            new,
            size_before=_size(source),
            size_after=current.stat().st_size,
            batch_size=int(next(iter(example.sample.values())).shape[0]),
            generated=example.generated,
            repeats=repeats,
        )

    report = await asyncio.to_thread(measure_all)
    return Outcome(current, report)


def _apply(method: Method, source: Path, target: Path) -> str:
    if method in onnx_methods.LEVELS:
        return onnx_methods.optimize_graph(source, target, method)
    if method == Method.ONNX_INT8_DYNAMIC:
        return onnx_methods.quantize_int8(source, target)
    if method == Method.ONNX_FP16:
        return onnx_methods.to_fp16(source, target)
    if method == Method.TORCHSCRIPT_FREEZE:
        return torchscript_methods.freeze(source, target)
    if method == Method.TORCHSCRIPT_OPTIMIZE_FOR_INFERENCE:
        return torchscript_methods.optimize_for_inference(source, target)
    raise AssertionError(f"{method} is not applied in a thread")
