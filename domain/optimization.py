"""Optimization jobs: turn a version into a faster one, saved in the OPTIMIZED list.

A job is PENDING when requested, RUNNING once a worker claims it (one winner: the claim is an
append at the next aggregate version), and ends SUCCEEDED (with the new version and its
report) or FAILED (with the reason, and the report when the agreement check failed). Every
step appends a log line and the progress, which doubles as the worker's heartbeat.

Which methods fit which format, and in which order, is decided here, before any work.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidState, ValidationError
from domain.formats import ModelFormat, resolve_runtime

SAMPLES_MAX = 1000
LOG_MAX = 200
EXAMPLE_MAX_VALUES = 1_000_000


class Method(StrEnum):
    ONNX_GRAPH_BASIC = "ONNX_GRAPH_BASIC"
    ONNX_GRAPH_EXTENDED = "ONNX_GRAPH_EXTENDED"
    ONNX_GRAPH_ALL = "ONNX_GRAPH_ALL"
    ONNX_INT8_DYNAMIC = "ONNX_INT8_DYNAMIC"
    ONNX_FP16 = "ONNX_FP16"
    TORCHSCRIPT_FREEZE = "TORCHSCRIPT_FREEZE"
    TORCHSCRIPT_OPTIMIZE_FOR_INFERENCE = "TORCHSCRIPT_OPTIMIZE_FOR_INFERENCE"
    PYTORCH_EXPORT_TORCHSCRIPT = "PYTORCH_EXPORT_TORCHSCRIPT"
    PYTORCH_EXPORT_ONNX = "PYTORCH_EXPORT_ONNX"


# The format a method reads, and the format it writes.
METHOD_FORMATS: dict[Method, tuple[ModelFormat, ModelFormat]] = {
    Method.ONNX_GRAPH_BASIC: (ModelFormat.ONNX, ModelFormat.ONNX),
    Method.ONNX_GRAPH_EXTENDED: (ModelFormat.ONNX, ModelFormat.ONNX),
    Method.ONNX_GRAPH_ALL: (ModelFormat.ONNX, ModelFormat.ONNX),
    Method.ONNX_INT8_DYNAMIC: (ModelFormat.ONNX, ModelFormat.ONNX),
    Method.ONNX_FP16: (ModelFormat.ONNX, ModelFormat.ONNX),
    Method.TORCHSCRIPT_FREEZE: (ModelFormat.TORCHSCRIPT, ModelFormat.TORCHSCRIPT),
    Method.TORCHSCRIPT_OPTIMIZE_FOR_INFERENCE: (ModelFormat.TORCHSCRIPT, ModelFormat.TORCHSCRIPT),
    Method.PYTORCH_EXPORT_TORCHSCRIPT: (ModelFormat.PYTORCH, ModelFormat.TORCHSCRIPT),
    Method.PYTORCH_EXPORT_ONNX: (ModelFormat.PYTORCH, ModelFormat.ONNX),
}

# At most one method of each family in a job.
_FAMILIES: dict[Method, str] = {
    Method.ONNX_GRAPH_BASIC: "graph optimization level",
    Method.ONNX_GRAPH_EXTENDED: "graph optimization level",
    Method.ONNX_GRAPH_ALL: "graph optimization level",
    Method.ONNX_INT8_DYNAMIC: "precision (int8 or fp16)",
    Method.ONNX_FP16: "precision (int8 or fp16)",
    Method.PYTORCH_EXPORT_TORCHSCRIPT: "export",
    Method.PYTORCH_EXPORT_ONNX: "export",
}


def plan_methods(source_format: str, methods: list[str]) -> tuple[list[Method], ModelFormat]:
    """The methods, checked to fit ``source_format`` in order; and the result's format."""
    if not methods:
        raise ValidationError("methods", "name at least one method")
    chosen: list[Method] = []
    for raw in methods:
        try:
            chosen.append(Method(raw))
        except ValueError:
            allowed = ", ".join(m.value for m in Method)
            raise ValidationError("methods", f"unknown method {raw!r}; use {allowed}") from None
    if len(set(chosen)) != len(chosen):
        raise ValidationError("methods", "a method is named twice")
    families: dict[str, Method] = {}
    current = ModelFormat(source_format)
    for method in chosen:
        family = _FAMILIES.get(method)
        if family is not None and family in families:
            raise ValidationError(
                "methods", f"{families[family].value} and {method.value} are both a {family}"
            )
        if family is not None:
            families[family] = method
        reads, writes = METHOD_FORMATS[method]
        if reads != current:
            raise ValidationError(
                "methods",
                f"{method.value} works on {reads.value} models; at this point the model is"
                f" {current.value}",
            )
        current = writes
    return chosen, current


def needs_example(source_format: str) -> bool:
    """ONNX declares its inputs, so a sample can be generated; TorchScript and PyTorch
    models do not."""
    return ModelFormat(source_format) != ModelFormat.ONNX


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Measurement options: ``samples`` (1..1000), ``repeats`` (1..1000), thresholds
    ``max_abs_diff`` (>= 0) and ``min_top1_agreement`` (0..1), both optional."""
    samples = options.get("samples", 32)
    repeats = options.get("repeats", 30)
    for field, value in (("samples", samples), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= SAMPLES_MAX:
            raise ValidationError(field, f"must be a whole number from 1 to {SAMPLES_MAX}")
    diff = options.get("max_abs_diff")
    if diff is not None and (not _finite(diff) or diff < 0):
        raise ValidationError("maxAbsDiff", "must be a finite number >= 0")
    top1 = options.get("min_top1_agreement")
    if top1 is not None and (not _finite(top1) or not 0 <= top1 <= 1):
        raise ValidationError("minTop1Agreement", "must be between 0 and 1")
    example = options.get("example_input")
    if example is not None and _count_values(example) > EXAMPLE_MAX_VALUES:
        raise ValidationError("exampleInput", f"at most {EXAMPLE_MAX_VALUES} values")
    return {**options, "samples": samples, "repeats": repeats}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _count_values(value: Any) -> int:
    if isinstance(value, list):
        return sum(_count_values(v) for v in value)
    if isinstance(value, dict):
        return sum(_count_values(v) for v in value.values())
    return 1


def failed_thresholds(report: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """The thresholds the report crosses, as sentences (empty: it passes)."""
    crossed = []
    limit = options.get("max_abs_diff")
    diff = report.get("max_abs_diff")  # None: the outputs differ beyond measure (NaN, inf)
    if limit is not None and (diff is None or diff > limit):
        shown = "unbounded" if diff is None else f"{diff:.6g}"
        crossed.append(f"max absolute difference {shown} > {limit:g}")
    floor = options.get("min_top1_agreement")
    top1 = report.get("top1_agreement")
    if floor is not None and top1 is not None and top1 < floor:
        crossed.append(f"top-1 agreement {top1:.4f} < {floor:g}")
    return crossed


class JobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class OptimizationJob(Aggregate):
    @event("Requested")
    def __init__(
        self,
        version_id: UUID,
        model_id: UUID,
        source_format: str,
        methods: list[str],
        result_format: str,
        target_model: str,
        options: dict[str, Any],
    ) -> None:
        self.version_id = version_id
        self.model_id = model_id
        self.source_format = source_format
        self.methods = methods
        self.result_format = result_format
        self.target_model = target_model
        self.options = options
        self.status = JobStatus.PENDING.value
        self.worker = ""
        self.heartbeat_at = ""
        self.progress = 0.0
        self.log: list[dict[str, str]] = []
        self.report: dict[str, Any] = {}
        self.result_version_id: UUID | None = None
        self.reason = ""

    @classmethod
    def request(
        cls,
        version_id: UUID,
        model_id: UUID,
        source_format: str,
        methods: list[str],
        target_model: str,
        options: dict[str, Any],
    ) -> OptimizationJob:
        chosen, result = plan_methods(source_format, methods)
        checked = check_options(options)
        if checked.get("runtime"):
            checked["runtime"] = resolve_runtime(result, checked["runtime"])
        if needs_example(source_format) and checked.get("example_input") is None:
            raise ValidationError(
                "exampleInput",
                f"{source_format} models do not declare their inputs: give an example input",
            )
        return cls(
            version_id=version_id,
            model_id=model_id,
            source_format=source_format,
            methods=[m.value for m in chosen],
            result_format=result.value,
            target_model=target_model,
            options=checked,
        )

    def check_status(self, *allowed: JobStatus, action: str) -> None:
        if self.status not in allowed:
            raise InvalidState("optimization job", str(self.id), self.status.lower(), action)

    def start(self, worker: str, at: str) -> None:
        """Claim the job; a concurrent claim conflicts on the aggregate version."""
        self.check_status(JobStatus.PENDING, action="start it")
        self._started(worker=worker, at=at)

    @event("Started")
    def _started(self, worker: str, at: str) -> None:
        self.status = JobStatus.RUNNING.value
        self.worker = worker
        self.heartbeat_at = at

    def record(self, message: str, progress: float, at: str) -> None:
        """A log line and the progress so far (0..1); also the heartbeat."""
        self.check_status(JobStatus.RUNNING, action="record progress")
        if len(self.log) >= LOG_MAX:
            return
        self._progressed(message=message[:2000], progress=min(max(progress, 0.0), 1.0), at=at)

    @event("Progressed")
    def _progressed(self, message: str, progress: float, at: str) -> None:
        self.log = [*self.log, {"at": at, "message": message}]
        self.progress = progress
        self.heartbeat_at = at

    def succeed(self, result_version_id: UUID, report: dict[str, Any]) -> None:
        self.check_status(JobStatus.RUNNING, action="complete it")
        self._succeeded(result_version_id=result_version_id, report=report)

    @event("Succeeded")
    def _succeeded(self, result_version_id: UUID, report: dict[str, Any]) -> None:
        self.status = JobStatus.SUCCEEDED.value
        self.result_version_id = result_version_id
        self.report = report
        self.progress = 1.0

    def fail(self, reason: str, report: dict[str, Any] | None = None) -> None:
        self.check_status(JobStatus.PENDING, JobStatus.RUNNING, action="fail it")
        self._failed(reason=(reason.strip() or "failed")[:4000], report=report or {})

    @event("Failed")
    def _failed(self, reason: str, report: dict[str, Any]) -> None:
        self.status = JobStatus.FAILED.value
        self.reason = reason
        self.report = report
