"""Which methods fit which format, the options, thresholds and the job's life."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.errors import InvalidState, ValidationError
from domain.optimization import JobStatus, OptimizationJob, failed_thresholds, plan_methods


def test_methods_chain_through_formats() -> None:
    assert plan_methods("ONNX", ["ONNX_GRAPH_ALL", "ONNX_INT8_DYNAMIC"])[1] == "ONNX"
    assert plan_methods("PYTORCH", ["PYTORCH_EXPORT_ONNX", "ONNX_FP16"])[1] == "ONNX"
    assert plan_methods("PYTORCH", ["PYTORCH_EXPORT_TORCHSCRIPT"])[1] == "TORCHSCRIPT"


@pytest.mark.parametrize(
    ("fmt", "methods", "words"),
    [
        ("ONNX", ["TORCHSCRIPT_FREEZE"], "works on TORCHSCRIPT"),
        ("TORCHSCRIPT", ["ONNX_FP16"], "works on ONNX"),
        ("ONNX", ["ONNX_FP16", "PYTORCH_EXPORT_ONNX"], "works on PYTORCH"),
        ("ONNX", ["ONNX_GRAPH_BASIC", "ONNX_GRAPH_ALL"], "graph optimization level"),
        ("ONNX", ["ONNX_FP16", "ONNX_FP16"], "twice"),
        ("ONNX", ["FAST"], "unknown method"),
        ("ONNX", [], "at least one"),
        ("PMML", ["ONNX_FP16"], "works on ONNX"),
    ],
)
def test_methods_that_do_not_fit_are_refused(fmt: str, methods: list[str], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        plan_methods(fmt, methods)


def _job(fmt: str = "ONNX", **options: object) -> OptimizationJob:
    return OptimizationJob.request(uuid4(), uuid4(), fmt, ["ONNX_FP16"], "m-optimized", options)


def test_options_are_checked() -> None:
    for bad in ({"samples": 0}, {"repeats": 1001}, {"max_abs_diff": -1.0}):
        with pytest.raises(ValidationError):
            _job(**bad)
    with pytest.raises(ValidationError, match="between 0 and 1"):
        _job(min_top1_agreement=1.5)
    with pytest.raises(ValidationError, match="cannot run"):
        _job(runtime="pmml")
    with pytest.raises(ValidationError, match="example input"):
        OptimizationJob.request(uuid4(), uuid4(), "TORCHSCRIPT", ["TORCHSCRIPT_FREEZE"], "m", {})
    assert _job().options["samples"] == 32


def test_thresholds() -> None:
    report = {"max_abs_diff": 0.5, "top1_agreement": 0.9}
    assert failed_thresholds(report, {}) == []
    crossed = failed_thresholds(report, {"max_abs_diff": 0.1, "min_top1_agreement": 0.99})
    assert len(crossed) == 2 and "0.5 > 0.1" in crossed[0]
    assert failed_thresholds({"max_abs_diff": None}, {"max_abs_diff": 1.0})


def test_a_job_runs_once_and_ends_once() -> None:
    job = _job()
    job.start("w1", "t0")
    with pytest.raises(InvalidState):
        job.start("w2", "t0")
    job.record("step", 0.5, "t1")
    job.succeed(uuid4(), {"speedup": 2.0})
    assert job.status == JobStatus.SUCCEEDED and job.progress == 1.0 and len(job.log) == 1
    with pytest.raises(InvalidState):
        job.fail("late")
