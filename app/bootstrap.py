"""The one place that builds adapters and services. Tests pass other adapters."""

from __future__ import annotations

from dataclasses import dataclass

from app.adapters.event_store.port import EventStore
from app.adapters.sql.port import Database
from app.services.models import ModelService
from app.services.projector import Projector
from app.services.repository import Repository
from app.services.serialization import EventMapper
from app.services.tokens import TokenService
from app.services.training import TrainingService
from app.settings import Settings
from projections.audit import AuditProjection
from projections.base import Projection
from projections.models import ModelListProjection
from projections.tokens import TokensProjection
from projections.training import TrainingProjection
from projections.versions import VersionsProjection


def all_projections() -> list[Projection]:
    return [
        ModelListProjection(),
        VersionsProjection(),
        AuditProjection(),
        TokensProjection(),
        TrainingProjection(),
    ]


@dataclass
class Container:
    settings: Settings
    db: Database
    store: EventStore
    mapper: EventMapper
    repository: Repository
    projector: Projector
    models: ModelService
    tokens: TokenService
    training: TrainingService

    async def close(self) -> None:
        await self.db.close()


def open_database(url: str) -> tuple[Database, EventStore]:
    """Adapters for a database URL (not opened yet)."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        from app.adapters.event_store.postgres import PostgresEventStore
        from app.adapters.sql.postgres import PostgresDatabase

        pg = PostgresDatabase(url)
        return pg, PostgresEventStore(pg)
    if url.startswith("sqlite://"):
        from app.adapters.event_store.sqlite import SqliteEventStore
        from app.adapters.sql.sqlite import SqliteDatabase

        lite = SqliteDatabase(url)
        return lite, SqliteEventStore(lite)
    raise ValueError(
        f"unsupported MODELREPO_DATABASE_URL {url.split('://')[0]}://…;"
        " use sqlite:///path or postgresql://…"
    )


async def build(settings: Settings) -> Container:
    """Open the database, create tables, and catch the read models up with the log."""
    db, store = open_database(settings.resolved_database_url)
    await db.open()
    try:
        await store.setup()
        mapper = EventMapper()
        repository = Repository(store, mapper)
        projector = Projector(db, store, mapper, all_projections())
        await projector.setup()
        await projector.catch_up()
    except BaseException:
        await db.close()
        raise
    return Container(
        settings=settings,
        db=db,
        store=store,
        mapper=mapper,
        repository=repository,
        projector=projector,
        models=ModelService(repository, projector),
        tokens=TokenService(repository, projector, db),
        training=TrainingService(repository, projector),
    )
