"""Read model: the audit log, one row per event (who did what to which object, when)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.base import (
    BatchHandler,
    BulkWriter,
    EventInfo,
    Handler,
    Projection,
    Reader,
    Row,
    iso,
    parse_iso,
)


class AuditProjection(Projection):
    name = "audit"
    tables = ("rm_audit",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS rm_audit (
            position BIGINT PRIMARY KEY,
            originator_id TEXT NOT NULL,
            originator_version INTEGER NOT NULL,
            aggregate_type TEXT NOT NULL,
            event_type TEXT NOT NULL,
            actor TEXT NOT NULL,
            request_id TEXT NOT NULL,
            reason TEXT,
            recorded_at TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS rm_audit_originator ON rm_audit (originator_id, position)",
        "CREATE INDEX IF NOT EXISTS rm_audit_actor ON rm_audit (actor, position)",
    )

    def handlers(self) -> dict[str, Handler]:
        return {}

    def batch_handler(self) -> BatchHandler:
        return self._record

    async def _record(self, tx: BulkWriter, infos: list[EventInfo]) -> None:
        await tx.insert_rows(
            "rm_audit",
            _COLUMNS,
            [
                (
                    info.position,
                    str(info.originator_id),
                    info.originator_version,
                    *split_topic(info.topic),
                    info.actor,
                    info.request_id,
                    info.reason,
                    iso(info.recorded_at),
                )
                for info in infos
            ],
        )


_COLUMNS = (
    "position",
    "originator_id",
    "originator_version",
    "aggregate_type",
    "event_type",
    "actor",
    "request_id",
    "reason",
    "recorded_at",
)


@functools.lru_cache(maxsize=256)
def split_topic(topic: str) -> tuple[str, str]:
    """``domain.model:Model.Registered`` -> ("Model", "Registered")."""
    qualname = topic.rpartition(":")[2]
    aggregate_type, _, event_type = qualname.rpartition(".")
    return aggregate_type or qualname, event_type or qualname


@dataclass(frozen=True, slots=True)
class AuditRow:
    position: int
    originator_id: str
    originator_version: int
    aggregate_type: str
    event_type: str
    actor: str
    request_id: str
    reason: str | None
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> AuditRow:
        return cls(**{**row, "recorded_at": parse_iso(row["recorded_at"])})


async def list_audit(
    db: Reader,
    *,
    first: int,
    before: int | None = None,
    actor: str | None = None,
    aggregate_id: str | None = None,
) -> tuple[list[AuditRow], bool]:
    """Newest first; ``before`` is a position cursor."""
    where: list[str] = []
    args: list[Any] = []
    if before is not None:
        args.append(before)
        where.append(f"position < ${len(args)}")
    if actor:
        args.append(actor)
        where.append(f"actor = ${len(args)}")
    if aggregate_id:
        args.append(aggregate_id)
        where.append(f"originator_id = ${len(args)}")
    args.append(first + 1)
    sql = "SELECT * FROM rm_audit" + (" WHERE " + " AND ".join(where) if where else "")
    rows = await db.fetch(sql + f" ORDER BY position DESC LIMIT ${len(args)}", *args)
    return [AuditRow.from_row(r) for r in rows[:first]], len(rows) > first
