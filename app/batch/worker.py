"""The batch worker: turns schedules into runs, claims runs and executes them.

A run reads its input in chunks, applies the pinned preprocessing steps, predicts with the
pinned version's runtime (the one serving uses), and writes one output part per input
chunk under a deterministic name, so a retried run overwrites its parts and never
duplicates rows. Progress is recorded about every 5% of the input files or every 5 s and
doubles as the heartbeat; a run whose heartbeat goes stale is retried or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.adapters.event_store.port import EventMeta
from app.adapters.object_store.port import ObjectStore, ObjectStoreError
from app.adapters.object_store.uri import ObjectUri, parse_object_uri
from app.batch.errors import BatchError, RunCancelled, RunFailed
from app.batch.io import OutputWriter, ReadReport, input_keys, iter_input, read_columns
from app.batch.memory import release_memory, use_system_pool
from app.batch.model_inputs import to_batch
from app.batch.resume import Resume
from app.batch.statistics import StatisticsPass
from app.batch.steps import (
    apply_steps,
    check_columns,
    parse_steps,
    required_columns,
)
from app.monitoring.batch import BatchMetrics
from app.sandbox import Sandbox
from app.services.batch_jobs import BatchService
from app.serving.cache import ModelCache
from app.serving.loading import load_runtime, version_row
from app.serving.runtimes.base import Runtime, RuntimeFailure, RuntimeOptions
from domain.batch import BatchRun, RunStatus
from domain.errors import DomainError
from projections.base import Reader
from projections.batch import due_jobs, get_job, runs_of, runs_with_status
from projections.versions import VersionRow

log = logging.getLogger("modelrepo.batch")
SourceOpener = Callable[[ObjectUri], Awaitable[ObjectStore]]
META = EventMeta(actor="batch-worker")
DUE_BATCH = 500
MAX_DUE_ROUNDS = 20


class BatchWorker:
    def __init__(
        self,
        service: BatchService,
        db: Reader,
        cache: ModelCache,
        open_store: SourceOpener,
        *,
        chunk_rows: int = 50_000,
        heartbeat_seconds: float = 5.0,
        stale_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.service = service
        self.db = db
        self.cache = cache
        # Custom runtimes' user code runs in it (the server's limits and policy).
        self.runtime_options = RuntimeOptions(sandbox=sandbox or Sandbox())
        self.open_store = open_store
        self.chunk_rows = chunk_rows
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_seconds = stale_seconds
        self.poll_seconds = poll_seconds
        self.name = f"worker-{uuid.uuid4().hex[:8]}"
        # Set by monitoring (None when it is off): rows, duration and rows/s per run.
        self.metrics: BatchMetrics | None = None

    async def run_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # keep working; the next tick retries
                log.exception("batch worker tick failed")
            await asyncio.sleep(self.poll_seconds)

    async def tick(self, now: datetime | None = None) -> int:
        """Schedule due runs, recover dead ones, execute what can be claimed; returns the
        number of runs executed."""
        moment = now or datetime.now(UTC)
        await self.schedule(moment)
        await self.recover_stale(moment)
        done = 0
        for row in await runs_with_status(self.db, RunStatus.PENDING.value, limit=10):
            if row.job_id and await self._forbidden(row.job_id, row.id):
                continue
            run = await self.service.claim(row.id, self.name, meta=META)
            if run is not None:
                await self.execute(run)
                done += 1
        return done

    async def schedule(self, now: datetime) -> int:
        """Create the runs that are due; returns how many. Only jobs whose next run time
        has come are looked at, so idle jobs cost nothing per pass."""
        created = 0
        for _ in range(MAX_DUE_ROUNDS):  # bounded: a job that keeps failing stays due
            jobs = await due_jobs(self.db, now, DUE_BATCH)
            for job in jobs:
                with contextlib.suppress(DomainError):
                    created += await self.service.schedule_due(job.id, now, meta=META)
            if len(jobs) < DUE_BATCH:
                break
        return created

    async def _forbidden(self, job_id: str, run_id: str) -> bool:
        """With the FORBID concurrency policy (the default) a run waits while another run
        of its job is running; ALLOW lets them overlap."""
        job = await get_job(self.db, job_id)
        if job is not None and job.schedule.get("concurrency") == "ALLOW":
            return False
        job_runs = await runs_of(self.db, job_id, limit=1000)
        return any(r.status == RunStatus.RUNNING and r.id != run_id for r in job_runs)

    async def recover_stale(self, now: datetime) -> None:
        limit = now - timedelta(seconds=self.stale_seconds)
        for row in await runs_with_status(self.db, RunStatus.RUNNING.value, limit=100):
            if row.heartbeat_at and datetime.fromisoformat(row.heartbeat_at) < limit:
                with contextlib.suppress(DomainError):
                    await self.service.change_run(row.id, _abandon, meta=META)

    async def execute(self, run: BatchRun) -> None:
        use_system_pool()
        started = time.monotonic()
        try:
            result = await self._execute(run)
        except RunCancelled:
            log.info("run %s was cancelled; its partial output is removed", run.id)
            return
        except (RunFailed, BatchError, RuntimeFailure) as exc:  # steps errors are BatchErrors
            reason = str(exc)
        except ObjectStoreError as exc:
            reason = f"storage: {exc}"
        except Exception as exc:  # a run never stays RUNNING because of a bug
            log.exception("run %s failed unexpectedly", run.id)
            reason = f"internal error: {type(exc).__name__}"
        else:
            await self._finish(run, lambda r: r.complete(result))
            await self._measured(run, RunStatus.COMPLETED, result["rows"], started)
            return
        await self._finish(run, lambda r: r.fail(reason))
        await self._measured(run, RunStatus.FAILED, None, started)

    async def _measured(
        self, run: BatchRun, status: RunStatus, rows: int | None, started: float
    ) -> None:
        if self.metrics is not None:
            await self.metrics.run_finished(run, status.value, rows, time.monotonic() - started)

    async def _finish(self, run: BatchRun, change: Callable[[BatchRun], Any]) -> None:
        with contextlib.suppress(DomainError):  # cancelled or requeued meanwhile
            await self.service.change_run(run.id, change, meta=META)

    async def _execute(self, run: BatchRun) -> dict[str, Any]:
        config = run.config
        spec = config["spec"]
        steps = parse_steps(config["steps"])
        source, output = (
            _parse(spec["input_uri"], "inputUri"),
            _parse(spec["output_uri"], "outputUri"),
        )
        source_store = await self.open_store(source)
        try:
            output_store = await self.open_store(output)
        except ObjectStoreError as exc:
            await source_store.close()
            raise _unwritable(spec["output_uri"], exc) from None
        try:
            version = await self._version(config["version_id"])
            runtime = await load_runtime(self.db, self.cache, version, options=self.runtime_options)
            try:
                return await self._process(
                    run,
                    spec,
                    steps,
                    runtime,
                    source_store,
                    source.prefix,
                    output_store,
                    output.prefix,
                )
            finally:
                await runtime.unload()
        finally:
            await source_store.close()
            await output_store.close()

    async def _version(self, version_id: str) -> VersionRow:
        try:
            return await version_row(self.db, version_id)
        except RuntimeFailure:
            raise RunFailed(
                f"the model version {version_id} was deleted after the job was created;"
                " point the job at another version (updateBatchJob)"
            ) from None

    async def _process(
        self,
        run: BatchRun,
        spec: dict[str, Any],
        steps: list[Any],
        runtime: Runtime,
        source: ObjectStore,
        source_key: str,
        output: ObjectStore,
        output_prefix: str,
    ) -> dict[str, Any]:
        fmt = spec["input_format"]
        id_column = spec.get("id_column") or None
        columns = await read_columns(source, source_key, fmt)
        problems = check_columns(steps, columns)
        if id_column and id_column not in columns:
            problems.append(f"the id column {id_column!r} is not in the input")
        if problems:
            raise RunFailed("input does not fit the steps: " + "; ".join(problems))
        wanted = required_columns(steps, columns) + ([id_column] if id_column else [])
        reading = {
            "columns": list(dict.fromkeys(wanted)),
            "on_error": spec.get("on_error", "fail"),
            "max_skipped": int(spec.get("max_skipped", 0)),
        }
        statistics = StatisticsPass(steps)
        if statistics.needed:
            async for chunk in iter_input(source, source_key, fmt, self.chunk_rows, **reading):
                statistics.update(chunk.frame)
            steps = statistics.resolve()
        files = len(await input_keys(source, source_key))
        writer = OutputWriter(output, output_prefix, spec["output_format"], id_column=id_column)
        try:
            await writer.prepare()
        except ObjectStoreError as exc:
            raise _unwritable(spec["output_uri"], exc) from None
        resume = Resume.of(run.progress, self.chunk_rows)
        report = ReadReport()
        rows = 0
        last_beat = time.monotonic()
        last_share = 0.0
        async for chunk in iter_input(
            source, source_key, fmt, resume.chunk_rows, report=report, **reading
        ):
            if not await resume.adopted(writer, chunk):
                frame = apply_steps(steps, chunk.frame)
                features = frame.drop(columns=[id_column]) if id_column in frame else frame
                outputs = await runtime.predict(to_batch(runtime, features))
                await writer.write(chunk, outputs)
                del frame, features, outputs
                release_memory()
                await self._check_live(run, writer)
            rows += chunk.rows
            share = (chunk.file_index + 1) / max(files, 1)
            if share - last_share >= 0.05 or time.monotonic() - last_beat >= self.heartbeat_seconds:
                progress = resume.progress(rows, files, share, chunk)
                await self._progress(run, progress, writer)
                last_beat, last_share = time.monotonic(), share
        manifest = await writer.finalize()
        return {
            "rows": rows,
            "skipped": report.skipped,
            "files": files,
            "outputs": [p.key for p in writer.parts],
            "manifest": manifest,
            "output_uri": spec["output_uri"],
            "resumed_parts": resume.count,
        }

    async def _check_live(self, run: BatchRun, writer: OutputWriter) -> None:
        """Stop soon after a cancel: the run's own events say, read from the log (no
        projection lag across processes)."""
        current = await self.service.repo.get(run.id, BatchRun, kind="run")
        if current.status == RunStatus.CANCELLED:
            await writer.discard()
            raise RunCancelled(str(run.id))
        if current.status != RunStatus.RUNNING or current.worker != run.worker:
            raise RunFailed(f"the run was taken over: it is {current.status.lower()}")

    async def _progress(
        self, run: BatchRun, progress: dict[str, Any], writer: OutputWriter
    ) -> None:
        at = datetime.now(UTC).isoformat()
        try:
            await self.service.change_run(
                run.id, lambda r: r.report_progress(progress, at), meta=META
            )
        except DomainError as exc:
            await self._check_live(run, writer)
            raise RunFailed(f"the run was stopped: {exc}") from None


def _unwritable(location: str, exc: ObjectStoreError) -> RunFailed:
    return RunFailed(f"the output location {location} is not writable: {exc}")


def _abandon(run: BatchRun) -> None:
    attempts = int(run.config["spec"].get("max_attempts", 3))
    run.abandon(f"worker {run.worker} stopped sending heartbeats", attempts)


def _parse(uri: str, field: str) -> ObjectUri:
    try:
        return parse_object_uri(uri)
    except ValueError as exc:
        raise RunFailed(f"{field}: {exc}") from None
