"""Read model: the versions of each model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.base import (
    EventInfo,
    Handler,
    Projection,
    Reader,
    Row,
    Writer,
    dumps,
    iso,
    loads,
    parse_iso,
)


class VersionsProjection(Projection):
    name = "versions"
    tables = ("rm_versions",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS rm_versions (
            id TEXT PRIMARY KEY,
            model_id TEXT NOT NULL,
            number INTEGER NOT NULL,
            format TEXT NOT NULL,
            framework TEXT NOT NULL,
            runtime TEXT NOT NULL,
            metrics TEXT NOT NULL,
            source TEXT NOT NULL,
            description TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX IF NOT EXISTS rm_versions_number ON rm_versions (model_id, number)",
        "CREATE INDEX IF NOT EXISTS rm_versions_format ON rm_versions (format, model_id)",
    )

    def handlers(self) -> dict[str, Handler]:
        return {
            "ModelVersion.Imported": self._imported,
            "ModelVersion.Deleted": self._deleted,
        }

    async def _imported(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "INSERT INTO rm_versions (id, model_id, number, format, framework, runtime, metrics,"
            " source, description, status, created_at, created_by, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $11)",
            str(e.originator_id),
            str(e.model_id),
            e.number,
            e.model_format,
            e.framework,
            e.runtime,
            dumps(e.metrics),
            dumps(e.source),
            e.description,
            e.status,
            iso(info.recorded_at),
            info.actor,
        )

    async def _deleted(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute("DELETE FROM rm_versions WHERE id = $1", str(e.originator_id))


@dataclass(frozen=True, slots=True)
class VersionRow:
    id: str
    model_id: str
    number: int
    model_format: str
    framework: str
    runtime: str
    metrics: dict[str, float]
    source: dict[str, str]
    description: str
    status: str
    created_at: datetime
    created_by: str
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> VersionRow:
        return cls(
            id=row["id"],
            model_id=row["model_id"],
            number=row["number"],
            model_format=row["format"],
            framework=row["framework"],
            runtime=row["runtime"],
            metrics=loads(row["metrics"]),
            source=loads(row["source"]),
            description=row["description"],
            status=row["status"],
            created_at=parse_iso(row["created_at"]),
            created_by=row["created_by"],
            updated_at=parse_iso(row["updated_at"]),
        )


_SELECT = "SELECT * FROM rm_versions"
_INT_MAX = 2**31 - 1


async def get_versions(db: Reader, ids: list[str]) -> dict[str, VersionRow]:
    if not ids:
        return {}
    placeholders = ", ".join(f"${i + 1}" for i in range(len(ids)))
    rows = await db.fetch(f"{_SELECT} WHERE id IN ({placeholders})", *ids)
    return {r["id"]: VersionRow.from_row(r) for r in rows}


async def list_versions(
    db: Reader, model_id: str, *, first: int, after: int | None = None, newest_first: bool = True
) -> tuple[list[VersionRow], bool]:
    """A page of one model's versions by number; and whether more follow."""
    if newest_first:
        cond, order = "number < $2", "DESC"
        bound = after if after is not None else _INT_MAX
    else:
        cond, order = "number > $2", "ASC"
        bound = after if after is not None else 0
    rows = await db.fetch(
        f"{_SELECT} WHERE model_id = $1 AND {cond} ORDER BY number {order} LIMIT $3",
        model_id,
        bound,
        first + 1,
    )
    return [VersionRow.from_row(r) for r in rows[:first]], len(rows) > first


async def latest_versions(db: Reader, model_ids: list[str]) -> dict[str, VersionRow]:
    """The highest-numbered live version of each model that has one."""
    if not model_ids:
        return {}
    placeholders = ", ".join(f"${i + 1}" for i in range(len(model_ids)))
    rows = await db.fetch(
        f"{_SELECT} v WHERE v.model_id IN ({placeholders}) AND v.number ="
        " (SELECT MAX(w.number) FROM rm_versions w WHERE w.model_id = v.model_id)",
        *model_ids,
    )
    return {r["model_id"]: VersionRow.from_row(r) for r in rows}
