"""Read model: the versions of each model."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.base import (
    BulkWriter,
    EventInfo,
    Handler,
    HandOff,
    Projection,
    Reader,
    Row,
    Writer,
    dumps,
    iso,
    loads,
    parse_iso,
)

HAND_OFF_SIZE = 1024
# The columns _imported writes; the others start NULL (_new_row).
_INSERTED = (
    "id",
    "model_id",
    "number",
    "format",
    "framework",
    "runtime",
    "metrics",
    "source",
    "description",
    "status",
    "failure",
    "file_count",
    "created_at",
    "created_by",
    "updated_at",
)


def _new_row(values: tuple[Any, ...]) -> VersionRow:
    """The row _imported wrote, as VersionRow."""
    row: Row = dict.fromkeys(("size", "storage_prefix", "active_revision", "pending_revision"))
    row.update(zip(_INSERTED, values, strict=True))
    return VersionRow.from_row(row)


class VersionsProjection(Projection):
    name = "versions"
    tables = ("rm_version_files", "rm_version_file_sets", "rm_versions")
    rows_per_originator = True
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
            failure TEXT NOT NULL,
            size BIGINT,
            file_count INTEGER NOT NULL,
            storage_prefix TEXT,
            active_revision INTEGER,
            pending_revision INTEGER,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX IF NOT EXISTS rm_versions_number ON rm_versions (model_id, number)",
        "CREATE INDEX IF NOT EXISTS rm_versions_format ON rm_versions (format, model_id)",
        """CREATE TABLE IF NOT EXISTS rm_version_file_sets (
            version_id TEXT NOT NULL,
            revision INTEGER NOT NULL,
            prefix TEXT NOT NULL,
            size BIGINT NOT NULL,
            file_count INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (version_id, revision)
        )""",
        """CREATE TABLE IF NOT EXISTS rm_version_files (
            version_id TEXT NOT NULL,
            revision INTEGER NOT NULL,
            path TEXT NOT NULL,
            size BIGINT NOT NULL,
            sha256 TEXT NOT NULL,
            PRIMARY KEY (version_id, revision, path)
        )""",
    )

    def __init__(self) -> None:
        # Rows of new versions, for the mutations that created them (ImportSuccess.version).
        self.created: HandOff[str, VersionRow] = HandOff(HAND_OFF_SIZE)

    def handlers(self) -> dict[str, Handler]:
        changes: dict[str, Handler] = {
            "ModelVersion.Deleted": self._deleted,
            "ModelVersion.FilesImported": self._files_imported,
            "ModelVersion.ImportFailed": self._import_failed,
            "ModelVersion.FilesReuploaded": self._files_reuploaded,
            "ModelVersion.FileSetActivated": self._file_set_activated,
        }
        return {
            "ModelVersion.Imported": self._imported,
            **{name: self._dropping(handler) for name, handler in changes.items()},
        }

    def transaction_ended(self, *, committed: bool) -> None:
        self.created.settle(committed=committed)

    def _dropping(self, handler: Handler) -> Handler:
        """The handler, first dropping the version's hand-off entry (its row changes)."""

        async def changed(tx: BulkWriter, e: Any, info: EventInfo) -> None:
            self.created.drop(str(e.originator_id))
            await handler(tx, e, info)

        return changed

    async def _imported(self, tx: BulkWriter, e: Any, info: EventInfo) -> None:
        at = iso(info.recorded_at)
        values = (
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
            "",
            0,
            at,
            info.actor,
            at,
        )
        await tx.insert_rows("rm_versions", _INSERTED, [values])
        self.created.put_lazily(values[0], functools.partial(_new_row, values))

    async def _deleted(self, tx: Writer, e: Any, info: EventInfo) -> None:
        version_id = str(e.originator_id)
        for table, column in (
            ("rm_version_files", "version_id"),
            ("rm_version_file_sets", "version_id"),
            ("rm_versions", "id"),
        ):
            await tx.execute(f"DELETE FROM {table} WHERE {column} = $1", version_id)

    async def _files_imported(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _write_files(tx, str(e.originator_id), e.file_set, info)
        await _activate(tx, str(e.originator_id), e.file_set, info, status="READY")

    async def _import_failed(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "UPDATE rm_versions SET status = 'FAILED', failure = $2, updated_at = $3 WHERE id = $1",
            str(e.originator_id),
            e.reason,
            iso(info.recorded_at),
        )

    async def _files_reuploaded(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await _write_files(tx, str(e.originator_id), e.file_set, info)
        await tx.execute(
            "UPDATE rm_versions SET pending_revision = $2, updated_at = $3 WHERE id = $1",
            str(e.originator_id),
            e.file_set["revision"],
            iso(info.recorded_at),
        )

    async def _file_set_activated(self, tx: Writer, e: Any, info: EventInfo) -> None:
        version_id = str(e.originator_id)
        row = await tx.fetchrow(
            "SELECT prefix, size, file_count FROM rm_version_file_sets"
            " WHERE version_id = $1 AND revision = $2",
            version_id,
            e.revision,
        )
        assert row is not None, "a file set is recorded before it is activated"
        await tx.execute(
            "UPDATE rm_versions SET active_revision = $2, pending_revision = NULL, size = $3,"
            " file_count = $4, storage_prefix = $5, updated_at = $6 WHERE id = $1",
            version_id,
            e.revision,
            row["size"],
            row["file_count"],
            row["prefix"],
            iso(info.recorded_at),
        )


async def _write_files(
    tx: Writer, version_id: str, file_set: dict[str, Any], info: EventInfo
) -> None:
    await tx.execute(
        "INSERT INTO rm_version_file_sets (version_id, revision, prefix, size, file_count,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        version_id,
        file_set["revision"],
        file_set["prefix"],
        file_set["size"],
        len(file_set["files"]),
        iso(info.recorded_at),
    )
    await tx.executemany(
        "INSERT INTO rm_version_files (version_id, revision, path, size, sha256)"
        " VALUES ($1, $2, $3, $4, $5)",
        [
            (version_id, file_set["revision"], f["path"], f["size"], f["sha256"])
            for f in file_set["files"]
        ],
    )


async def _activate(
    tx: Writer, version_id: str, file_set: dict[str, Any], info: EventInfo, *, status: str
) -> None:
    await tx.execute(
        "UPDATE rm_versions SET status = $2, active_revision = $3, size = $4, file_count = $5,"
        " storage_prefix = $6, updated_at = $7 WHERE id = $1",
        version_id,
        status,
        file_set["revision"],
        file_set["size"],
        len(file_set["files"]),
        file_set["prefix"],
        iso(info.recorded_at),
    )


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
    failure: str
    size: int | None
    file_count: int
    storage_prefix: str | None
    active_revision: int | None
    pending_revision: int | None
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
            failure=row["failure"],
            size=row["size"],
            file_count=row["file_count"],
            storage_prefix=row["storage_prefix"],
            active_revision=row["active_revision"],
            pending_revision=row["pending_revision"],
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


async def list_versions_of(
    db: Reader, model_ids: list[str], *, first: int, after: int | None = None
) -> dict[str, tuple[list[VersionRow], bool]]:
    """A page of each model's versions, newest first, by number; and whether more follow."""
    pages: dict[str, tuple[list[VersionRow], bool]] = {m: ([], False) for m in model_ids}
    if not model_ids:
        return pages
    marks = ", ".join(f"${i + 3}" for i in range(len(model_ids)))
    rows = await db.fetch(
        "SELECT * FROM (SELECT v.*, ROW_NUMBER() OVER"
        " (PARTITION BY v.model_id ORDER BY v.number DESC) AS place FROM rm_versions v"
        f" WHERE v.model_id IN ({marks}) AND v.number < $1) ranked WHERE place <= $2"
        " ORDER BY model_id, number DESC",
        after if after is not None else _INT_MAX,
        first + 1,
        *model_ids,
    )
    for row in rows:
        page, _ = pages[row["model_id"]]
        if len(page) < first:
            page.append(VersionRow.from_row(row))
        else:
            pages[row["model_id"]] = (page, True)
    return pages


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


@dataclass(frozen=True, slots=True)
class FileSetRow:
    revision: int
    prefix: str
    size: int
    file_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FileRow:
    path: str
    size: int
    sha256: str


async def file_sets(db: Reader, version_id: str) -> list[FileSetRow]:
    rows = await db.fetch(
        "SELECT revision, prefix, size, file_count, created_at FROM rm_version_file_sets"
        " WHERE version_id = $1 ORDER BY revision",
        version_id,
    )
    return [FileSetRow(**{**r, "created_at": parse_iso(r["created_at"])}) for r in rows]


async def file_sets_of(db: Reader, version_ids: list[str]) -> dict[str, list[FileSetRow]]:
    """The file sets of each version, oldest first (file_sets of several)."""
    found: dict[str, list[FileSetRow]] = {v: [] for v in version_ids}
    if not version_ids:
        return found
    marks = ", ".join(f"${i + 1}" for i in range(len(version_ids)))
    rows = await db.fetch(
        "SELECT version_id, revision, prefix, size, file_count, created_at"
        f" FROM rm_version_file_sets WHERE version_id IN ({marks}) ORDER BY revision",
        *version_ids,
    )
    for r in rows:
        found[r.pop("version_id")].append(
            FileSetRow(**{**r, "created_at": parse_iso(r["created_at"])})
        )
    return found


async def files(db: Reader, version_id: str, revision: int) -> list[FileRow]:
    rows = await db.fetch(
        "SELECT path, size, sha256 FROM rm_version_files WHERE version_id = $1 AND revision = $2"
        " ORDER BY path",
        version_id,
        revision,
    )
    return [FileRow(**r) for r in rows]
