"""The one place that builds adapters and services. Tests pass other adapters."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from app.adapters.databases import event_store_in as event_store_in
from app.adapters.databases import open_database as open_database
from app.adapters.event_store.port import EventMeta, EventStore
from app.adapters.object_store.local import LocalObjectStore
from app.adapters.object_store.port import ObjectStore
from app.adapters.object_store.uri import ObjectUri, parse_object_uri
from app.adapters.sql.port import Database
from app.batch.worker import BatchWorker
from app.monitoring.monitor import Monitoring, build_monitoring
from app.optimize.pipeline import preflight
from app.optimize.worker import OptimizationWorker
from app.sandbox import Sandbox
from app.services.batch_jobs import BatchService
from app.services.deployments import ServiceManager
from app.services.imports import ImportService
from app.services.keys import KeyVault, load_fernet
from app.services.log_feed import LogFeed
from app.services.models import ModelService
from app.services.optimizations import OptimizationService
from app.services.projector import Projector
from app.services.repository import Repository
from app.services.serialization import EventMapper
from app.services.token_sessions import TokenSessions
from app.services.tokens import TokenService
from app.services.training import TrainingService
from app.serving.cache import ModelCache
from app.serving.plane import DataPlane, PredictLimits
from app.serving.runtimes.base import RuntimeOptions
from app.settings import Settings
from domain.errors import DomainError, ValidationError
from domain.service import ServiceStatus
from projections.base import HandOff
from projections.catalog import all_projections as all_projections
from projections.versions import VersionRow, VersionsProjection


@dataclass
class Container:
    settings: Settings
    db: Database
    store: EventStore
    mapper: EventMapper
    repository: Repository
    projector: Projector
    # New versions' rows from their projection, for the import mutations' results.
    created_versions: HandOff[str, VersionRow]
    models: ModelService
    tokens: TokenService
    training: TrainingService
    storage: ObjectStore
    imports: ImportService
    services: ServiceManager
    keys: KeyVault
    serving: DataPlane
    batch: BatchService
    batch_worker: BatchWorker
    optimizations: OptimizationService
    optimization_worker: OptimizationWorker
    feed: LogFeed
    # This process's open websockets by token, closed when their token is revoked.
    sessions: TokenSessions
    # None when MODELREPO_MONITORING is off.
    monitoring: Monitoring | None = None

    async def close(self) -> None:
        await self.sessions.close()
        await self.feed.close()
        await self.storage.close()
        await self.store.close()
        await self.db.close()


class S3Opener:
    """Opens S3 stores with one shared aioboto3 session: a new session reloads botocore's
    service data (~0.1 s of CPU on the event loop) every time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._session: Any = None

    async def __call__(self, bucket: str, prefix: str = "") -> ObjectStore:
        from app.adapters.object_store.s3 import S3ObjectStore

        if self._session is None:
            import aioboto3

            self._session = aioboto3.Session()
        settings = self.settings
        return await S3ObjectStore.open(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region or None,
            access_key_id=settings.s3_access_key_id or None,
            secret_access_key=settings.s3_secret_access_key or None,
            session=self._session,
        )


async def open_storage(settings: Settings, open_s3: S3Opener) -> ObjectStore:
    """The repository's own object storage: a directory under the data dir by default."""
    if not settings.storage_url:
        return LocalObjectStore(settings.data_dir / "objects")
    uri = parse_object_uri(settings.storage_url)
    return await open_s3(uri.bucket, uri.prefix)


def _checked_steps(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from app.batch.steps import dump_steps, parse_steps

    try:
        return dump_steps(parse_steps(raw))
    except ValueError as exc:  # StepsError lists every problem
        raise ValidationError("steps", str(exc)) from None


def _data_plane(
    settings: Settings,
    db: Database,
    cache: ModelCache,
    services: ServiceManager,
    sandbox: Sandbox,
) -> DataPlane:
    meta = EventMeta(actor="data-plane")

    async def report_status(
        service_id: str, revision: int, status: ServiceStatus, reason: str
    ) -> None:
        with contextlib.suppress(DomainError):  # deleted meanwhile
            await services.report_status(service_id, status, reason, revision=revision, meta=meta)

    async def report_failure(service_id: str, version_id: str, revision: int, reason: str) -> None:
        with contextlib.suppress(DomainError):
            await services.version_failed(service_id, version_id, revision, reason, meta=meta)

    options = RuntimeOptions(
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_batch_wait_ms,
        sandbox=sandbox,
    )
    plane = DataPlane(db, cache, report_status, report_failure, options)
    plane.limits = PredictLimits(
        settings.max_predict_bytes, settings.max_predict_rows, settings.max_json_depth
    )
    plane.host_domains = frozenset(settings.service_domain_names)
    return plane


async def build(
    settings: Settings,
    *,
    database: Database | None = None,
    event_store: EventStore | None = None,
    storage: ObjectStore | None = None,
) -> Container:
    """Open the database and storage, create tables, and catch the read models up.

    ``database``, ``event_store`` and ``storage``, when given (not yet opened), are used
    instead of those the settings name: tests pass in-memory or temporary ones. Either way
    build opens them and the container closes them."""
    if database is None:
        database, named_store = open_database(settings.resolved_database_url)
        if event_store is None:
            event_store = named_store
    elif event_store is None:
        event_store = event_store_in(database)
    db, store = database, event_store
    await db.open()
    try:
        await store.setup()
        mapper = EventMapper()
        repository = Repository(store, mapper)
        projections = all_projections()
        projector = Projector(db, store, mapper, projections, seen=repository.cache.saw)
        await projector.setup()
        await projector.catch_up()
        open_s3 = S3Opener(settings)
        if storage is None:
            storage = await open_storage(settings, open_s3)
        keys = KeyVault(db, load_fernet(settings.secret_key, settings.data_dir))
        await keys.setup()
    except BaseException:
        await store.close()
        await db.close()
        raise
    models = ModelService(repository, projector)
    training = TrainingService(repository, projector)
    tokens = TokenService(repository, projector, db)
    feed = LogFeed(store)

    async def open_source(uri: ObjectUri) -> ObjectStore:
        return await open_s3(uri.bucket)

    # Where user code runs, for serving, batch runs and optimizations alike.
    sandbox = Sandbox.from_settings(settings)
    sandbox.warn_if_unsafe()
    services = ServiceManager(repository, projector, keys, max_memory_mb=sandbox.memory_ceiling_mb)
    batch = BatchService(repository, projector, parse_steps=_checked_steps)
    imports = ImportService(
        models, training, storage, open_source, work_dir=settings.data_dir / "work"
    )
    # One per process: serving, batch runs and optimizations share its locks and records.
    cache = ModelCache(settings.data_dir / "cache", storage)
    optimizations = OptimizationService(
        repository, projector, imports, db, cache, preflight=preflight
    )
    container = Container(
        settings=settings,
        db=db,
        store=store,
        mapper=mapper,
        repository=repository,
        projector=projector,
        created_versions=next(p for p in projections if isinstance(p, VersionsProjection)).created,
        models=models,
        tokens=tokens,
        training=training,
        storage=storage,
        imports=imports,
        services=services,
        keys=keys,
        serving=_data_plane(settings, db, cache, services, sandbox),
        batch=batch,
        batch_worker=BatchWorker(
            batch,
            db,
            cache,
            open_source,
            chunk_rows=settings.batch_chunk_rows,
            heartbeat_seconds=settings.batch_heartbeat_seconds,
            stale_seconds=settings.batch_stale_seconds,
            poll_seconds=settings.batch_poll_seconds,
            sandbox=sandbox,
        ),
        optimizations=optimizations,
        optimization_worker=OptimizationWorker(
            optimizations,
            db,
            settings.data_dir / "work",
            concurrency=settings.optimization_jobs,
            sandbox=sandbox,
        ),
        feed=feed,
        sessions=TokenSessions(feed, store, tokens.still_grants),
    )
    if settings.monitoring:
        container.monitoring = await _monitoring(settings, container)
    return container


async def _monitoring(settings: Settings, container: Container) -> Monitoring:
    monitoring = build_monitoring(settings, container.db, container.serving)
    await monitoring.setup()
    container.batch_worker.metrics = monitoring.batch
    return monitoring
