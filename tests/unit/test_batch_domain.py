"""Batch jobs and runs: checks, claims (one winner), retries, final states."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.batch import BatchJob, BatchRun, RunStatus, location_overlap
from domain.errors import AlreadyDeleted, InvalidState, ValidationError

SPEC = {
    "input_uri": "s3://b/in/data.csv",
    "input_format": "CSV",
    "output_uri": "s3://b/out/",
    "output_format": "JSONL",
}


def _job(**spec: object) -> BatchJob:
    return BatchJob.create("nightly", uuid4(), {**SPEC, **spec}, {"kind": "ONCE"}, [])


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"output_uri": "s3://b/in/data.csv"}, "must differ from the input"),
        ({"output_uri": "s3://b/in/data.csv/"}, "must differ from the input"),
        ({"input_uri": ""}, "input_uri: must not be empty"),
        ({"input_format": "XLSX"}, "input_format"),
        ({"max_attempts": 0}, "between 1 and 10"),
        ({"max_attempts": True}, "between 1 and 10"),
    ],
)
def test_bad_jobs(spec: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        _job(**spec)


@pytest.mark.parametrize(
    ("source", "target", "needle"),
    [
        ("S3://b/data/", "s3://b/data", "is the input location"),
        ("s3://b/data", "s3://b/data/scores/", "inside the input location"),
        ("s3://b/data/", "S3://b/data/scores", "inside the input location"),
        ("s3://b/out/in.csv", "S3://b/out/", "inside the output location"),
    ],
)
def test_locations_are_compared_without_scheme_case_or_trailing_slashes(
    source: str, target: str, needle: str
) -> None:
    assert needle in (location_overlap(source, target) or "")
    with pytest.raises(ValidationError, match=needle):
        _job(input_uri=source, output_uri=target)


def test_sibling_locations_do_not_overlap() -> None:
    assert location_overlap("s3://b/data", "s3://b/data-scores") is None
    assert location_overlap("s3://b/data", "cos://b/data/x") is None
    job = _job()
    with pytest.raises(ValidationError, match="inside the input location"):
        job.update(spec={"output_uri": "s3://b/in/data.csv/scores"})


def test_pause_resume_delete() -> None:
    job = _job()
    job.pause()
    with pytest.raises(InvalidState):
        job.pause()
    job.resume()
    job.mark_scheduled("2026-01-01T00:00:00+00:00")
    job.mark_scheduled("2025-01-01T00:00:00+00:00")  # never goes back
    assert job.last_scheduled == "2026-01-01T00:00:00+00:00"
    job.delete()
    with pytest.raises(AlreadyDeleted):
        job.update(spec={"output_uri": "s3://b/other/"})


def _run() -> BatchRun:
    return BatchRun(
        job_id=uuid4(), scheduled_at="2026-01-01T00:00:00+00:00", trigger="manual", config={}
    )


def test_a_run_goes_pending_running_completed() -> None:
    run = _run()
    run.start("worker-1", "t1")
    with pytest.raises(InvalidState):
        run.start("worker-2", "t1")
    run.report_progress({"rows": 10}, "t2")
    run.complete({"rows": 10})
    assert run.status == RunStatus.COMPLETED
    with pytest.raises(InvalidState):
        run.fail("late")


def test_an_abandoned_run_is_retried_then_failed() -> None:
    run = _run()
    for attempt in (1, 2):
        run.start(f"w{attempt}", "t")
        run.abandon("worker stopped sending heartbeats", max_attempts=3)
        assert run.status == RunStatus.PENDING
    run.start("w3", "t")
    run.abandon("worker stopped sending heartbeats", max_attempts=3)
    assert run.status == RunStatus.FAILED and "gave up after 3 attempts" in run.reason


def test_cancel() -> None:
    run = _run()
    run.cancel()
    assert run.status == RunStatus.CANCELLED
    with pytest.raises(InvalidState):
        run.start("w", "t")
