"""Batch runs that meet trouble: a worker killed five times mid-run (the run resumes and
writes every row exactly once), a cancel noticed while the run works, an output location
that takes no writes, and a version deleted after the job was created."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from app.adapters.event_store.port import EventMeta
from domain.batch import BatchRun, RunStatus
from tests.e2e.conftest import Api, open_api
from tests.e2e.serving_helpers import V1, model_with_versions
from tests.e2e.test_batch_runs import _job as batch_job
from tests.e2e.test_batch_runs import _outputs, _put
from tests.e2e.test_s3_imports import _settings
from tests.integration.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server

META = EventMeta(actor="test")
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)  # runs come from triggers only
KILLS = 5
ROWS = 120_000
CHUNK_ROWS = 2_000


@pytest.fixture
async def batch_api(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, database_url: str
) -> AsyncIterator[Api]:
    async with open_api(_settings(tmp_path / "data", s3_server, database_url)) as api:
        yield api


def _csv(rows: int) -> bytes:
    lines = ["id,x1,x2,x3,x4"] + [f"r{i},{i % 97},1,2,3" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def _job(api: Api, bucket: str, version: str, **spec: Any) -> Any:
    """CSV in and out, no steps; runs only when triggered."""
    schedule = {"kind": "ONCE", "start": FUTURE}
    return await batch_job(
        api, bucket, version, schedule=schedule, steps=[], output_format="CSV", **spec
    )


async def _run(api: Api, run_id: Any) -> BatchRun:
    return await api.container.repository.get(run_id, BatchRun, kind="run")


def _worker_env(api: Api, s3: S3Server) -> dict[str, str]:
    settings = api.container.settings
    return {
        **os.environ,
        "MODELREPO_DATA_DIR": str(settings.data_dir),
        "MODELREPO_DATABASE_URL": settings.resolved_database_url,
        "MODELREPO_S3_ENDPOINT_URL": s3.endpoint_url,
        "MODELREPO_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "MODELREPO_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "MODELREPO_S3_REGION": REGION,
        "MODELREPO_BATCH_CHUNK_ROWS": str(CHUNK_ROWS),
        "MODELREPO_BATCH_HEARTBEAT_SECONDS": "0.05",
        "MODELREPO_BATCH_STALE_SECONDS": "1",
        "MODELREPO_BATCH_POLL_SECONDS": "0.2",
    }


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], env=env, stdout=out, stderr=out
        )


async def _until(check: Any, what: str, log: Path) -> Any:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.02)
    text = await asyncio.to_thread(log.read_text)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{text[-3000:]}")


def _through(run: BatchRun) -> int:
    through = run.progress.get("through")
    return -1 if through is None else int(through[1])


async def test_a_run_survives_five_killed_workers_and_writes_each_row_once(
    batch_api: Api, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    api = batch_api
    _, versions = await model_with_versions(api, "linear", V1)
    await _put(s3_server, s3_bucket, "in/data.csv", _csv(ROWS))
    job = await _job(api, s3_bucket, versions[0], max_attempts=KILLS + 1)
    run = await api.container.batch.trigger(job.id, meta=META)
    env, log = _worker_env(api, s3_server), tmp_path / "workers.log"

    killed_at = -1
    for attempt in range(1, KILLS + 1):
        worker = _start_worker(env, log)
        try:

            async def working(attempt: int = attempt, after: int = killed_at) -> BatchRun | None:
                current = await _run(api, run.id)
                assert current.status != RunStatus.FAILED, current.reason
                fresh = current.attempt == attempt and current.status == RunStatus.RUNNING
                # killed only after it wrote parts of its own, past the last kill's point
                return current if fresh and _through(current) >= after + 2 else None

            seen = await _until(working, f"attempt {attempt} to make progress", log)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        assert seen.status == RunStatus.RUNNING
        killed_at = _through(seen)
    assert killed_at < ROWS // CHUNK_ROWS - 1, "the input is too small to kill workers mid-run"

    worker = _start_worker(env, log)
    try:

        async def ended() -> BatchRun | None:
            current = await _run(api, run.id)
            return current if current.status not in (RunStatus.PENDING, RunStatus.RUNNING) else None

        final = await _until(ended, "the run to end", log)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert final.status == RunStatus.COMPLETED, final.reason
    assert final.attempt == KILLS + 1
    assert final.result["rows"] == ROWS
    assert final.result["resumed_parts"] > killed_at  # the last attempt resumed, not redid

    outputs = await _outputs(s3_server, s3_bucket, "out/")
    manifest = json.loads(outputs.pop("out/_SUCCESS"))
    assert sorted(outputs) == sorted(part["key"] for part in manifest["parts"])
    frames = [pd.read_csv(pd.io.common.BytesIO(body)) for _, body in sorted(outputs.items())]
    ids = pd.concat(frames)["id"].tolist()
    assert ids == [f"r{i}" for i in range(ROWS)]  # each row once, in order


async def test_a_cancel_is_noticed_while_the_run_works(
    batch_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    api = batch_api
    worker = api.container.batch_worker
    worker.chunk_rows, worker.heartbeat_seconds = 200, 0.0  # a progress event per chunk
    _, versions = await model_with_versions(api, "linear", V1)
    await _put(s3_server, s3_bucket, "in/data.csv", _csv(40_000))
    job = await _job(api, s3_bucket, versions[0])
    run = await api.container.batch.trigger(job.id, meta=META)
    working = asyncio.create_task(worker.tick())

    async def progressed() -> bool:
        current = await _run(api, run.id)
        return current.status == RunStatus.RUNNING and _through(current) >= 1

    deadline = time.monotonic() + 60
    while not await progressed():
        assert time.monotonic() < deadline and not working.done()
        await asyncio.sleep(0.01)
    cancelled = await api.gql(
        "mutation($id: ID!) { cancelBatchRun(runId: $id) { __typename } }", {"id": str(run.id)}
    )
    assert cancelled["cancelBatchRun"]["__typename"] != "InvalidState", cancelled
    assert await asyncio.wait_for(working, 60) == 1

    final = await _run(api, run.id)
    assert final.status == RunStatus.CANCELLED
    assert _through(final) < 40_000 // 200 - 1  # it stopped early
    outputs = await _outputs(s3_server, s3_bucket, "out/")
    assert outputs == {}  # no manifest and no partial parts are left behind


async def test_an_output_location_that_takes_no_writes_fails_the_run(
    batch_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    api = batch_api
    _, versions = await model_with_versions(api, "linear", V1)
    await _put(s3_server, s3_bucket, "in/data.csv", _csv(10))
    job = await _job(api, s3_bucket, versions[0], output_uri="s3://no-such-bucket-here/out")
    run = await api.container.batch.trigger(job.id, meta=META)
    assert await api.container.batch_worker.tick() == 1
    final = await _run(api, run.id)
    assert final.status == RunStatus.FAILED
    assert "s3://no-such-bucket-here/out is not writable" in final.reason
    assert "no-such-bucket-here" in final.reason and "Traceback" not in final.reason


async def test_a_version_deleted_after_the_job_was_created_fails_the_run(
    batch_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    api = batch_api
    _, versions = await model_with_versions(api, "linear", V1)
    await _put(s3_server, s3_bucket, "in/data.csv", _csv(10))
    job = await _job(api, s3_bucket, versions[0])
    await api.container.models.delete_version(versions[0], meta=META)
    run = await api.container.batch.trigger(job.id, meta=META)
    assert await api.container.batch_worker.tick() == 1
    final = await _run(api, run.id)
    assert final.status == RunStatus.FAILED
    assert f"model version {versions[0]} was deleted" in final.reason
    assert await _outputs(s3_server, s3_bucket, "out/") == {}
