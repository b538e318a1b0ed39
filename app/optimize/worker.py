"""The optimization worker: claims PENDING jobs and runs them in the server's background.

Each job gets a scratch folder; the source package comes from the content-keyed model
cache. The optimized file plus the source package become a new version (through the import
path: stored under a fresh prefix with a manifest, checked, READY) and the job SUCCEEDS with
its report — or FAILS with the reason (and the report, when an agreement threshold was
crossed). A job whose worker stopped sending heartbeats is failed, never left RUNNING.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.adapters.event_store.port import EventMeta
from app.optimize.optimized_files import optimized_file
from app.optimize.pipeline import optimize
from app.optimize.pytorch_export import ExportFailed
from app.sandbox import Sandbox
from app.services.imports import ImportFailed
from app.services.optimizations import OptimizationService
from app.serving.cache import writable_copy
from domain.errors import DomainError
from domain.optimization import JobStatus, OptimizationJob, failed_thresholds
from domain.version import ModelVersion
from projections.base import Reader
from projections.optimizations import jobs_with_status

log = logging.getLogger("modelrepo.optimize")
META = EventMeta(actor="optimization-worker")


class JobFailed(Exception):
    def __init__(self, reason: str, report: dict[str, object] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.report = report


class OptimizationWorker:
    def __init__(
        self,
        service: OptimizationService,
        db: Reader,
        work_dir: Path,
        *,
        concurrency: int = 2,
        poll_seconds: float = 1.0,
        stale_seconds: float = 1800.0,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.sandbox = sandbox or Sandbox()
        self.service = service
        self.db = db
        self.work_dir = work_dir
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.stale_seconds = stale_seconds
        self.name = f"optimizer-{uuid.uuid4().hex[:8]}"

    async def run_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # keep working; the next tick retries
                log.exception("optimization worker tick failed")
            await asyncio.sleep(self.poll_seconds)

    async def tick(self) -> int:
        """Fail stale jobs, then claim up to ``concurrency`` pending jobs and run them
        together; returns how many ran."""
        await self.recover_stale(datetime.now(UTC))
        claimed: list[OptimizationJob] = []
        for row in await jobs_with_status(self.db, JobStatus.PENDING.value, self.concurrency):
            job = await self.service.claim(row.id, self.name, meta=META)
            if job is not None:
                claimed.append(job)
        await asyncio.gather(*(self.execute(job) for job in claimed))
        return len(claimed)

    async def recover_stale(self, now: datetime) -> None:
        limit = now - timedelta(seconds=self.stale_seconds)
        for row in await jobs_with_status(self.db, JobStatus.RUNNING.value, 100):
            if row.heartbeat_at and datetime.fromisoformat(row.heartbeat_at) < limit:
                await self._finish_id(row.id, f"worker {row.worker} stopped sending heartbeats")

    async def _finish_id(self, job_id: str, reason: str) -> None:
        with contextlib.suppress(DomainError):
            await self.service.change(job_id, lambda j: j.fail(reason), meta=META)

    async def execute(self, job: OptimizationJob) -> None:
        await asyncio.to_thread(self.work_dir.mkdir, parents=True, exist_ok=True)
        work = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "optimize-", self.work_dir))
        try:
            version, report = await self._execute(job, work)
        except asyncio.CancelledError:  # the server is stopping: never leave it RUNNING
            stopped = "the server stopped during the optimization"
            await asyncio.shield(self._finish(job, lambda j: j.fail(stopped)))
            raise
        except JobFailed as exc:
            reason, partial = exc.reason, exc.report
        except (DomainError, ExportFailed) as exc:  # ImportFailed is a DomainError
            reason, partial = str(exc), None
        except Exception as exc:  # a job never stays RUNNING because of a bug or a model
            log.exception("optimization %s failed", job.id)
            first = (str(exc).strip().splitlines() or [""])[0][:1000]
            reason, partial = f"{type(exc).__name__}: {first}", None
        else:
            await self._finish(job, lambda j: j.succeed(version.id, report))
            return
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        await self._finish(job, lambda j: j.fail(reason, partial))

    async def _finish(
        self, job: OptimizationJob, change: Callable[[OptimizationJob], None]
    ) -> None:
        with contextlib.suppress(DomainError):  # failed by a stale check meanwhile
            await self.service.change(job.id, change, meta=META)

    async def _execute(
        self, job: OptimizationJob, work: Path
    ) -> tuple[ModelVersion, dict[str, object]]:
        source = await self.service.repo.get(job.version_id, ModelVersion, kind="version")
        source.check_ready("optimize it")
        package = await self.service.package(source)

        async def record(message: str, progress: float) -> None:
            at = datetime.now(UTC).isoformat()
            try:
                await self.service.change(
                    job.id, lambda j: j.record(message, progress, at), meta=META
                )
            except DomainError as exc:
                raise JobFailed(f"the job was stopped: {exc}") from None

        outcome = await optimize(
            package,
            source.model_format,
            source.source.get("model_file") or None,
            job.methods,
            job.options,
            work,
            record,
            sandbox=self.sandbox,
        )
        report = outcome.report
        crossed = failed_thresholds(report, job.options)
        if crossed:
            raise JobFailed("output agreement threshold crossed: " + "; ".join(crossed), report)
        name = optimized_file(job.result_format)
        folder = work / "package"
        await asyncio.to_thread(writable_copy, package, folder)
        target = folder / name
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, outcome.model_file, target)
        await record(f"saving the package with {name}", 0.95)
        try:
            version = await self.service.save_result(job, source, folder, name, meta=META)
        except ImportFailed as exc:
            raise JobFailed(f"the optimized package was refused: {exc.reason}", report) from None
        return version, report
