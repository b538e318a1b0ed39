"""Read model: API tokens by hash, for authenticating requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from projections.base import EventInfo, Handler, Projection, Reader, Writer, iso


class TokensProjection(Projection):
    name = "tokens"
    tables = ("rm_tokens",)
    rows_per_originator = True
    ddl = (
        """CREATE TABLE IF NOT EXISTS rm_tokens (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            revoked INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        )""",
    )

    def handlers(self) -> dict[str, Handler]:
        return {"ApiToken.Created": self._created, "ApiToken.Revoked": self._revoked}

    async def _created(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute(
            "INSERT INTO rm_tokens (id, name, role, token_hash, revoked, created_at, created_by)"
            " VALUES ($1, $2, $3, $4, 0, $5, $6)",
            str(e.originator_id),
            e.name,
            e.role,
            e.token_hash,
            iso(info.recorded_at),
            info.actor,
        )

    async def _revoked(self, tx: Writer, e: Any, info: EventInfo) -> None:
        await tx.execute("UPDATE rm_tokens SET revoked = 1 WHERE id = $1", str(e.originator_id))


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: str
    name: str
    role: str
    revoked: bool
    created_at: str
    created_by: str


async def find_token(db: Reader, token_hash: str) -> TokenRow | None:
    row = await db.fetchrow(
        "SELECT id, name, role, revoked, created_at, created_by FROM rm_tokens"
        " WHERE token_hash = $1",
        token_hash,
    )
    return None if row is None else TokenRow(**{**row, "revoked": bool(row["revoked"])})


async def list_tokens(db: Reader) -> list[TokenRow]:
    rows = await db.fetch(
        "SELECT id, name, role, revoked, created_at, created_by FROM rm_tokens ORDER BY created_at"
    )
    return [TokenRow(**{**r, "revoked": bool(r["revoked"])}) for r in rows]


async def any_token(db: Reader) -> bool:
    return int(await db.fetchval("SELECT COUNT(*) FROM rm_tokens")) > 0
