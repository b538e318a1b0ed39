"""The in-process model registry beneath the data plane: which versions are loaded for
which service, and each service's routing table.

It follows the services read model. A spec change (a new revision) loads what the new
spec needs beside what is serving now; only when every version the new spec sends traffic
to is ready does the routing table switch, atomically, so clients never see a gap. A
version that fails to load never takes traffic: the old table keeps serving and a failure
event is recorded. Versions no table uses any more are unloaded once their requests end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from app.packages.redact import without_paths
from app.serving.batcher import Batcher
from app.serving.cache import ModelCache
from app.serving.loading import load_runtime, version_row
from app.serving.recording import RequestRecorder
from app.serving.router import WeightedRouter
from app.serving.runtimes.base import Batch, Runtime, RuntimeOptions
from domain.service import ServiceStatus
from projections.base import Reader
from projections.services import DeploymentRow, ServiceRow, serving_state

log = logging.getLogger("modelrepo.serving")

# (service id, the revision it is about, status, reason)
StatusReporter = Callable[[str, int, ServiceStatus, str], Awaitable[None]]
FailureReporter = Callable[[str, str, int, str], Awaitable[None]]


@dataclass
class Loaded:
    """One loaded version (for one file set and runtime)."""

    key: tuple[str, int | None, str]
    version_id: str
    number: int
    runtime: Runtime
    batcher: Batcher | None
    inflight: int = 0
    # The most requests in flight since the metrics roll-up last looked.
    peak: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    async def predict(self, batch: Batch) -> Batch:
        self.inflight += 1
        if self.inflight > self.peak:
            self.peak = self.inflight
        self.idle.clear()
        try:
            if self.batcher is not None:
                return await self.batcher.submit(batch)
            return await self.runtime.predict(batch)
        finally:
            self.inflight -= 1
            if not self.inflight:
                self.idle.set()

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()
        await self.runtime.unload()


@dataclass
class ServiceState:
    row: ServiceRow
    router: WeightedRouter[Loaded] | None = None
    revision_served: int = 0
    revision_wanted: int = 0
    deploying: asyncio.Task[None] | None = None
    loaded: dict[tuple[str, int | None, str], Loaded] = field(default_factory=dict)


class Deployments:
    """The services being served and their loaded versions, following the read model.
    ``app.serving.plane.DataPlane`` answers requests on top of it."""

    def __init__(
        self,
        db: Reader,
        cache: ModelCache,
        report_status: StatusReporter,
        report_failure: FailureReporter,
        options: RuntimeOptions | None = None,
        poll_seconds: float = 0.2,
    ) -> None:
        self.db = db
        self.cache = cache
        self.report_status = report_status
        self.report_failure = report_failure
        self.options = options or RuntimeOptions()
        # Set by monitoring (None when it is off): requests and load times go there.
        self.recorder: RequestRecorder | None = None
        self.poll_seconds = poll_seconds
        self.services: dict[str, ServiceState] = {}
        # Service names by host id, lower-cased: a Host's first label matches ignoring case.
        self.by_host: dict[str, str] = {}
        # The domains under which `<host id>.<domain>` names a service (lower case);
        # empty: any (MODELREPO_SERVICE_DOMAINS).
        self.host_domains: frozenset[str] = frozenset()
        self.ready = False
        self._seen = -1
        self._follower: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        await self.reconcile()
        self._follower = asyncio.create_task(self._follow())
        self.ready = True

    async def stop(self) -> None:
        """Not ready first, then let in-flight requests finish, then unload everything."""
        self.ready = False
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        for state in self.services.values():
            if state.deploying is not None:
                state.deploying.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await state.deploying
        everything = [x for s in self.services.values() for x in s.loaded.values()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(x.idle.wait() for x in everything)), 30)
        for state in self.services.values():
            for loaded in state.loaded.values():
                await loaded.close()
        self.services.clear()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.reconcile()
            except Exception:  # keep following; the next round retries
                log.exception("serving reconcile failed")

    # -- following the read model ------------------------------------------------------

    async def reconcile(self) -> None:
        async with self._lock:
            position = await self.db.fetchval("SELECT COALESCE(MAX(position), 0) FROM rm_services")
            count = await self.db.fetchval("SELECT COUNT(*) FROM rm_services")
            marker = int(position) * 1_000_003 + int(count)
            if marker == self._seen:
                return
            self._seen = marker
            wanted = await serving_state(self.db)
            names = {row.name for row, _ in wanted}
            for name in [n for n in self.services if n not in names]:
                await self._retire(self.services.pop(name))
            self.by_host = {row.host_id.lower(): row.name for row, _ in wanted}
            for row, deployments in wanted:
                state = self.services.get(row.name)
                if state is None:
                    state = self.services[row.name] = ServiceState(row=row)
                state.row = row
                if row.status == ServiceStatus.STOPPED:
                    await self._retire(state)
                    continue
                if row.revision != state.revision_wanted or (
                    state.router is None
                    and state.deploying is None
                    and row.status == ServiceStatus.DEPLOYING
                ):
                    state.revision_wanted = row.revision
                    if state.deploying is not None:
                        state.deploying.cancel()
                    state.deploying = asyncio.create_task(self._deploy(state, row, deployments))

    async def _retire(self, state: ServiceState) -> None:
        if state.deploying is not None:
            state.deploying.cancel()
        state.router = None
        state.revision_served = 0
        state.revision_wanted = 0
        for loaded in list(state.loaded.values()):
            await self._unload_when_idle(loaded)
        state.loaded.clear()

    async def _deploy(
        self, state: ServiceState, row: ServiceRow, deployments: list[DeploymentRow]
    ) -> None:
        results = await asyncio.gather(
            *(self._load(state, d) for d in deployments), return_exceptions=True
        )
        weighted: list[tuple[Loaded, int]] = []
        failures: list[str] = []
        blocking = False
        for deployment, result in zip(deployments, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                # (recorded in the service's history and shown to clients: no server paths)
                reason = without_paths(
                    f"V{deployment.number} failed to load: {result}", every_path=True
                )
                failures.append(reason)
                blocking = blocking or deployment.weight > 0
                await self.report_failure(row.id, deployment.version_id, row.revision, reason)
            elif deployment.weight > 0:
                weighted.append((result, deployment.weight))
        if blocking:
            # A version meant to take traffic is not there: the table serving now (if any)
            # keeps serving, and the new one never takes traffic.
            serving = " (the previous revision keeps serving)" if state.router else ""
            await self.report_status(
                row.id, row.revision, ServiceStatus.FAILED, "; ".join(failures) + serving
            )
            return
        state.router = WeightedRouter(weighted)
        state.revision_served = row.revision
        keep = {loaded.key for loaded, _ in weighted} | {
            r.key for r in results if isinstance(r, Loaded)
        }
        for key in [k for k in state.loaded if k not in keep]:
            await self._unload_when_idle(state.loaded.pop(key))
        await self.report_status(row.id, row.revision, ServiceStatus.RUNNING, "; ".join(failures))

    async def _load(self, state: ServiceState, deployment: DeploymentRow) -> Loaded:
        version = await version_row(self.db, deployment.version_id)
        runtime_name = deployment.runtime or version.runtime
        key = (deployment.version_id, deployment.file_revision, runtime_name)
        if key in state.loaded:
            return state.loaded[key]
        options = replace(
            self.options,
            cpu_threads=max(1, int(deployment.cpu)),
            memory_limit_mb=deployment.memory_mb,
        )
        started = time.perf_counter()
        runtime = await load_runtime(
            self.db,
            self.cache,
            version,
            runtime_name=runtime_name,
            file_revision=deployment.file_revision,
            options=options,
        )
        batcher = None
        # The runtime's own options: a custom package's config.json may set its batching.
        if runtime.supports_batching and runtime.options.max_batch_size > 1:
            batcher = Batcher(
                runtime.predict,
                max_batch_size=runtime.options.max_batch_size,
                max_wait_ms=runtime.options.max_wait_ms,
            )
        loaded = Loaded(key, version.id, version.number, runtime, batcher)
        if self.recorder is not None:
            seconds = time.perf_counter() - started
            self.recorder.model_loaded(state.row.id, state.row.name, version.number, seconds)
        state.loaded[key] = loaded
        return loaded

    async def _unload_when_idle(self, loaded: Loaded) -> None:
        async def later() -> None:
            await loaded.idle.wait()
            await loaded.close()

        task = asyncio.create_task(later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- lookups ---------------------------------------------------------------------------

    def find(self, name: str, host: str | None = None) -> ServiceState | None:
        """The service by host id (the first label of Host, in any case, under one of the
        service domains when they are set), else by name."""
        if host:
            hostname = host.split(":", 1)[0].rstrip(".").lower()
            label, _, domain = hostname.partition(".")
            if not self.host_domains or domain in self.host_domains:
                by_host = self.by_host.get(label)
                if by_host is not None:
                    return self.services.get(by_host)
        return self.services.get(name)
