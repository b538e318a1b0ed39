"""Read model: the original and optimized model lists (one table, a ``list`` column)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.errors import ValidationError
from domain.rules import name_key
from projections.base import (
    EventInfo,
    Handler,
    Projection,
    Reader,
    Row,
    Writer,
    dumps,
    iso,
    like_pattern,
    loads,
    parse_iso,
)


class ModelListProjection(Projection):
    name = "models"
    tables = ("rm_model_tags", "rm_models")
    ddl = (
        """CREATE TABLE IF NOT EXISTS rm_models (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            name_key TEXT NOT NULL,
            list TEXT NOT NULL,
            description TEXT NOT NULL,
            tags TEXT NOT NULL,
            version_count INTEGER NOT NULL,
            last_version_number INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS rm_models_list_key ON rm_models (list, name_key, id)",
        """CREATE TABLE IF NOT EXISTS rm_model_tags (
            model_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (model_id, key)
        )""",
        "CREATE INDEX IF NOT EXISTS rm_model_tags_kv ON rm_model_tags (key, value)",
    )

    def row_key(self, event_name: str, event: Any) -> Hashable | None:
        # Rows by the model's id: a version's events change its model's row.
        model_id: Hashable | None = None
        if event_name.startswith("ModelVersion."):
            model_id = event.model_id
        elif event_name.startswith("Model."):
            model_id = event.originator_id
        return model_id

    def handlers(self) -> dict[str, Handler]:
        return {
            "Model.Registered": self._registered,
            "Model.DescriptionUpdated": self._description_updated,
            "Model.TagsEdited": self._tags_edited,
            "Model.Deleted": self._deleted,
            "ModelVersion.Imported": self._version_imported,
            "ModelVersion.Deleted": self._version_deleted,
        }

    async def _registered(self, tx: Writer, e: Any, info: EventInfo) -> None:
        model_id = str(e.originator_id)
        await tx.execute(
            "INSERT INTO rm_models (id, name, name_key, list, description, tags, version_count,"
            " last_version_number, created_at, created_by, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8, $7)",
            model_id,
            e.name,
            name_key(e.name),
            e.model_list,
            e.description,
            dumps(e.tags),
            iso(info.recorded_at),
            info.actor,
        )
        await _write_tags(tx, model_id, e.tags)

    async def _description_updated(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "UPDATE rm_models SET description = $2, updated_at = $3 WHERE id = $1",
            str(e.originator_id),
            e.description,
            iso(info.recorded_at),
        )

    async def _tags_edited(self, tx: Writer, e: Any, info: EventInfo) -> None:
        model_id = str(e.originator_id)
        await tx.execute(
            "UPDATE rm_models SET tags = $2, updated_at = $3 WHERE id = $1",
            model_id,
            dumps(e.tags),
            iso(info.recorded_at),
        )
        await tx.execute("DELETE FROM rm_model_tags WHERE model_id = $1", model_id)
        await _write_tags(tx, model_id, e.tags)

    async def _deleted(self, tx: Writer, e: Any, info: EventInfo) -> None:
        model_id = str(e.originator_id)
        await tx.execute("DELETE FROM rm_model_tags WHERE model_id = $1", model_id)
        await tx.execute("DELETE FROM rm_models WHERE id = $1", model_id)

    async def _version_imported(self, tx: Writer, e: Any, info: EventInfo) -> None:
        # A number is allocated (Model.VersionAllocated) in the same append as its version
        # is imported, so one statement keeps both figures.
        await tx.execute(_VERSIONS_ADDED, str(e.model_id), e.number, iso(info.recorded_at), 1)

    def merge(self, sql: str, earlier: Sequence[Any], later: Sequence[Any]) -> Sequence[Any] | None:
        if sql != _VERSIONS_ADDED:
            return None
        # A model's versions imported one after the other: one update (a rebuild's
        # hundred thousand updates of ten thousand rows become about one per model).
        model_id, number, _, count = earlier
        return (model_id, max(number, later[1]), later[2], count + later[3])

    async def _version_deleted(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "UPDATE rm_models SET version_count = version_count - 1, updated_at = $2 WHERE id = $1",
            str(e.model_id),
            iso(info.recorded_at),
        )


_VERSIONS_ADDED = (
    "UPDATE rm_models SET version_count = version_count + $4, last_version_number ="
    " CASE WHEN last_version_number < $2 THEN $2 ELSE last_version_number END,"
    " updated_at = $3 WHERE id = $1"
)


async def _write_tags(tx: Writer, model_id: str, tags: dict[str, str]) -> None:
    if tags:
        await tx.executemany(
            "INSERT INTO rm_model_tags (model_id, key, value) VALUES ($1, $2, $3)",
            [(model_id, k, v) for k, v in tags.items()],
        )


@dataclass(frozen=True, slots=True)
class ModelRow:
    id: str
    name: str
    model_list: str
    description: str
    tags: dict[str, str]
    version_count: int
    last_version_number: int
    latest_version: int | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    name_key: str

    @classmethod
    def from_row(cls, row: Row) -> ModelRow:
        return cls(
            id=row["id"],
            name=row["name"],
            model_list=row["list"],
            description=row["description"],
            tags=loads(row["tags"]),
            version_count=row["version_count"],
            last_version_number=row["last_version_number"],
            latest_version=row["latest_version"],
            created_at=parse_iso(row["created_at"]),
            created_by=row["created_by"],
            updated_at=parse_iso(row["updated_at"]),
            name_key=row["name_key"],
        )


_SELECT = (
    "SELECT m.id, m.name, m.name_key, m.list, m.description, m.tags, m.version_count,"
    " m.last_version_number, m.created_at, m.created_by, m.updated_at,"
    " (SELECT MAX(v.number) FROM rm_versions v WHERE v.model_id = m.id) AS latest_version"
    " FROM rm_models m"
)


@dataclass(frozen=True, slots=True)
class ModelFilter:
    model_list: str | None = None
    search: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    model_format: str | None = None


async def list_models(
    db: Reader, filters: ModelFilter, *, first: int, after: tuple[str, str] | None = None
) -> tuple[list[ModelRow], bool]:
    """A page of models ordered by name (case-insensitive), then id; and whether more follow."""
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if filters.model_list:
        where.append(f"m.list = {arg(filters.model_list)}")
    if filters.search:
        where.append(
            f"m.name_key LIKE {arg(like_pattern(filters.search.strip().casefold()))} ESCAPE '\\'"
        )
    for key, value in filters.tags:
        where.append(
            "EXISTS (SELECT 1 FROM rm_model_tags t WHERE t.model_id = m.id"
            f" AND t.key = {arg(key)} AND t.value = {arg(value)})"
        )
    if filters.model_format:
        where.append(
            "EXISTS (SELECT 1 FROM rm_versions v WHERE v.model_id = m.id"
            f" AND v.format = {arg(filters.model_format)})"
        )
    if after is not None:
        key_arg, id_arg = arg(after[0]), arg(after[1])
        where.append(f"(m.name_key > {key_arg} OR (m.name_key = {key_arg} AND m.id > {id_arg}))")
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY m.name_key, m.id LIMIT {arg(first + 1)}"
    rows = await db.fetch(sql, *args)
    return [ModelRow.from_row(r) for r in rows[:first]], len(rows) > first


async def count_models(db: Reader, model_list: str | None = None) -> int:
    if model_list:
        return int(await db.fetchval("SELECT COUNT(*) FROM rm_models WHERE list = $1", model_list))
    return int(await db.fetchval("SELECT COUNT(*) FROM rm_models"))


async def get_models(db: Reader, ids: list[str]) -> dict[str, ModelRow]:
    if not ids:
        return {}
    placeholders = ", ".join(f"${i + 1}" for i in range(len(ids)))
    rows = await db.fetch(f"{_SELECT} WHERE m.id IN ({placeholders})", *ids)
    return {r["id"]: ModelRow.from_row(r) for r in rows}


async def get_model_by_name(db: Reader, model_list: str, name: str) -> ModelRow | None:
    try:
        key = name_key(name)
    except ValidationError:
        return None  # never a valid name, so no model has it
    row = await db.fetchrow(f"{_SELECT} WHERE m.list = $1 AND m.name_key = $2", model_list, key)
    return ModelRow.from_row(row) if row else None
