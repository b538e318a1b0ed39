"""The SQL database and event store adapters for a database URL."""

from __future__ import annotations

from app.adapters.event_store.port import EventStore
from app.adapters.sql.port import Database


def open_database(url: str) -> tuple[Database, EventStore]:
    """Adapters for a database URL (not opened yet)."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        from app.adapters.sql.postgres import PostgresDatabase

        pg = PostgresDatabase(url)
        return pg, event_store_in(pg)
    if url.startswith("sqlite://"):
        from app.adapters.sql.sqlite import SqliteDatabase

        lite = SqliteDatabase(url)
        return lite, event_store_in(lite)
    raise ValueError(
        f"unsupported MODELREPO_DATABASE_URL {url.split('://')[0]}://…;"
        " use sqlite:///path or postgresql://…"
    )


def event_store_in(db: Database) -> EventStore:
    """The event store whose tables live in ``db`` (not set up yet)."""
    from app.adapters.sql.sqlite import SqliteDatabase

    if isinstance(db, SqliteDatabase):
        from app.adapters.event_store.sqlite import SqliteEventStore

        return SqliteEventStore(db)
    from app.adapters.sql.postgres import PostgresDatabase

    if isinstance(db, PostgresDatabase):
        from app.adapters.event_store.postgres import PostgresEventStore

        return PostgresEventStore(db)
    raise TypeError(f"no event store keeps its events in a {type(db).__name__}; pass one")
