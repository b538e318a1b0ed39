"""Read model: prediction services, their current deployments (traffic) and revisions."""

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


class ServicesProjection(Projection):
    name = "services"
    tables = ("rm_service_revisions", "rm_service_deployments", "rm_services")
    ddl = (
        """CREATE TABLE IF NOT EXISTS rm_services (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            host_id TEXT NOT NULL UNIQUE,
            key_hash TEXT NOT NULL,
            status TEXT NOT NULL,
            status_reason TEXT NOT NULL,
            revision INTEGER NOT NULL,
            position BIGINT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS rm_service_deployments (
            service_id TEXT NOT NULL,
            version_id TEXT NOT NULL,
            model_id TEXT NOT NULL,
            number INTEGER NOT NULL,
            instances INTEGER NOT NULL,
            cpu DOUBLE PRECISION NOT NULL,
            memory_mb INTEGER NOT NULL,
            gpus INTEGER NOT NULL,
            runtime TEXT,
            file_revision INTEGER,
            weight INTEGER NOT NULL,
            ord INTEGER NOT NULL,
            PRIMARY KEY (service_id, version_id)
        )""",
        "CREATE INDEX IF NOT EXISTS rm_service_deployments_version"
        " ON rm_service_deployments (version_id)",
        """CREATE TABLE IF NOT EXISTS rm_service_revisions (
            service_id TEXT NOT NULL,
            revision INTEGER NOT NULL,
            kind TEXT NOT NULL,
            restored INTEGER NOT NULL,
            deployments TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            PRIMARY KEY (service_id, revision)
        )""",
    )

    def handlers(self) -> dict[str, Handler]:
        return {
            "Service.Published": self._published,
            "Service.SpecChanged": self._spec_changed,
            "Service.StatusChanged": self._status_changed,
            "Service.VersionFailed": self._version_failed,
            "Service.KeyRotated": self._key_rotated,
            "Service.Deleted": self._deleted,
        }

    async def _published(self, tx: Writer, e: Any, info: EventInfo) -> None:
        sid = str(e.originator_id)
        await tx.execute(
            "INSERT INTO rm_services (id, name, host_id, key_hash, status, status_reason,"
            " revision, position, created_at, created_by, updated_at)"
            " VALUES ($1, $2, $3, $4, 'DEPLOYING', '', 1, $5, $6, $7, $6)",
            sid,
            e.name,
            e.host_id,
            e.key_hash,
            info.position,
            iso(info.recorded_at),
            info.actor,
        )
        await _write_spec(tx, sid, 1, "publish", 0, e.deployments, info)

    async def _spec_changed(self, tx: Writer, e: Any, info: EventInfo) -> None:
        sid = str(e.originator_id)
        status = "DEPLOYING" if e.deployments else "STOPPED"
        await tx.execute(
            "UPDATE rm_services SET revision = $2, position = $3, updated_at = $4,"
            " status = CASE WHEN status = 'STOPPED' THEN status ELSE $5 END,"
            " status_reason = CASE WHEN status = 'STOPPED' THEN status_reason ELSE '' END"
            " WHERE id = $1",
            sid,
            e.revision,
            info.position,
            iso(info.recorded_at),
            status,
        )
        await _write_spec(tx, sid, e.revision, e.kind, e.restored, e.deployments, info)

    async def _status_changed(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _touch(tx, str(e.originator_id), info, status=e.status, status_reason=e.reason)

    async def _version_failed(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _touch(tx, str(e.originator_id), info, status_reason=e.reason)

    async def _key_rotated(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _touch(tx, str(e.originator_id), info, key_hash=e.key_hash)

    async def _deleted(self, tx: Writer, e: Any, info: EventInfo) -> None:
        sid = str(e.originator_id)
        for table, column in (
            ("rm_service_revisions", "service_id"),
            ("rm_service_deployments", "service_id"),
            ("rm_services", "id"),
        ):
            await tx.execute(f"DELETE FROM {table} WHERE {column} = $1", sid)


_TOUCHABLE = ("status", "status_reason", "key_hash")


async def _touch(tx: Writer, sid: str, info: EventInfo, **columns: str) -> None:
    assert set(columns) <= set(_TOUCHABLE)
    sets = ", ".join(f"{name} = ${i + 4}" for i, name in enumerate(columns))
    await tx.execute(
        f"UPDATE rm_services SET position = $2, updated_at = $3, {sets} WHERE id = $1",
        sid,
        info.position,
        iso(info.recorded_at),
        *columns.values(),
    )


async def _write_spec(
    tx: Writer,
    sid: str,
    revision: int,
    kind: str,
    restored: int,
    deployments: list[dict[str, Any]],
    info: EventInfo,
) -> None:
    await tx.execute("DELETE FROM rm_service_deployments WHERE service_id = $1", sid)
    if deployments:
        await tx.executemany(
            "INSERT INTO rm_service_deployments (service_id, version_id, model_id, number,"
            " instances, cpu, memory_mb, gpus, runtime, file_revision, weight, ord)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            [
                (
                    sid,
                    d["version_id"],
                    d["model_id"],
                    d["number"],
                    d["instances"],
                    d["cpu"],
                    d["memory_mb"],
                    d["gpus"],
                    d["runtime"],
                    d["file_revision"],
                    d["weight"],
                    i,
                )
                for i, d in enumerate(deployments)
            ],
        )
    await tx.execute(
        "INSERT INTO rm_service_revisions (service_id, revision, kind, restored, deployments,"
        " created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        sid,
        revision,
        kind,
        restored,
        dumps(deployments),
        iso(info.recorded_at),
        info.actor,
    )


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    version_id: str
    model_id: str
    number: int
    instances: int
    cpu: float
    memory_mb: int
    gpus: int
    runtime: str | None
    file_revision: int | None
    weight: int


@dataclass(frozen=True, slots=True)
class ServiceRow:
    id: str
    name: str
    host_id: str
    key_hash: str
    status: str
    status_reason: str
    revision: int
    position: int
    created_at: datetime
    created_by: str
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> ServiceRow:
        return cls(
            **{
                **row,
                "created_at": parse_iso(row["created_at"]),
                "updated_at": parse_iso(row["updated_at"]),
            }
        )


@dataclass(frozen=True, slots=True)
class RevisionRow:
    revision: int
    kind: str
    restored: int
    deployments: list[dict[str, Any]]
    created_at: datetime
    created_by: str


async def list_services(
    db: Reader, *, first: int, after: str | None = None, search: str | None = None
) -> tuple[list[ServiceRow], bool]:
    where: list[str] = []
    args: list[Any] = []
    if after is not None:
        args.append(after)
        where.append(f"name > ${len(args)}")
    if search:
        args.append(f"%{search.lower()}%")
        where.append(f"name LIKE ${len(args)}")
    args.append(first + 1)
    sql = "SELECT * FROM rm_services" + (" WHERE " + " AND ".join(where) if where else "")
    rows = await db.fetch(sql + f" ORDER BY name LIMIT ${len(args)}", *args)
    return [ServiceRow.from_row(r) for r in rows[:first]], len(rows) > first


async def get_service(
    db: Reader, *, id: str | None = None, name: str | None = None, host_id: str | None = None
) -> ServiceRow | None:
    column, value = next(
        (c, v) for c, v in (("id", id), ("name", name), ("host_id", host_id)) if v is not None
    )
    row = await db.fetchrow(f"SELECT * FROM rm_services WHERE {column} = $1", value)
    return None if row is None else ServiceRow.from_row(row)


async def deployments_of(db: Reader, service_ids: list[str]) -> dict[str, list[DeploymentRow]]:
    """The deployments of each service, in order."""
    found: dict[str, list[DeploymentRow]] = {s: [] for s in service_ids}
    if not service_ids:
        return found
    marks = ", ".join(f"${i + 1}" for i in range(len(service_ids)))
    rows = await db.fetch(
        "SELECT service_id, version_id, model_id, number, instances, cpu, memory_mb, gpus,"
        " runtime, file_revision, weight FROM rm_service_deployments"
        f" WHERE service_id IN ({marks}) ORDER BY ord",
        *service_ids,
    )
    for row in rows:
        found[row.pop("service_id")].append(DeploymentRow(**row))
    return found


async def revisions_of(db: Reader, service_ids: list[str]) -> dict[str, list[RevisionRow]]:
    """The revisions of each service, oldest first."""
    found: dict[str, list[RevisionRow]] = {s: [] for s in service_ids}
    if not service_ids:
        return found
    marks = ", ".join(f"${i + 1}" for i in range(len(service_ids)))
    rows = await db.fetch(
        "SELECT service_id, revision, kind, restored, deployments, created_at, created_by"
        f" FROM rm_service_revisions WHERE service_id IN ({marks}) ORDER BY revision",
        *service_ids,
    )
    for r in rows:
        found[r.pop("service_id")].append(
            RevisionRow(
                **{
                    **r,
                    "deployments": loads(r["deployments"]),
                    "created_at": parse_iso(r["created_at"]),
                }
            )
        )
    return found


async def services_using(db: Reader, version_ids: list[str]) -> dict[str, list[ServiceRow]]:
    """The services deploying each version."""
    if not version_ids:
        return {}
    marks = ", ".join(f"${i + 1}" for i in range(len(version_ids)))
    rows = await db.fetch(
        "SELECT d.version_id AS used_version, s.* FROM rm_service_deployments d"
        f" JOIN rm_services s ON s.id = d.service_id WHERE d.version_id IN ({marks})"
        " ORDER BY s.name",
        *version_ids,
    )
    found: dict[str, list[ServiceRow]] = {v: [] for v in version_ids}
    for row in rows:
        used = row.pop("used_version")
        found[used].append(ServiceRow.from_row(row))
    return found


async def serving_state(db: Reader) -> list[tuple[ServiceRow, list[DeploymentRow]]]:
    """Every service with its deployments, for the data plane to reconcile against."""
    services = [ServiceRow.from_row(r) for r in await db.fetch("SELECT * FROM rm_services")]
    rows = await db.fetch(
        "SELECT service_id, version_id, model_id, number, instances, cpu, memory_mb, gpus,"
        " runtime, file_revision, weight FROM rm_service_deployments ORDER BY service_id, ord"
    )
    by_service: dict[str, list[DeploymentRow]] = {}
    for row in rows:
        by_service.setdefault(row.pop("service_id"), []).append(DeploymentRow(**row))
    return [(s, by_service.get(s.id, [])) for s in services]
