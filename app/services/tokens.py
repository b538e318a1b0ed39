"""API tokens: create, revoke, authenticate. Secrets are shown once and stored hashed."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from app.adapters.event_store.port import ConcurrencyConflict, EventMeta
from app.adapters.sql.port import Database
from app.services.ids import parse_id
from app.services.projector import ReadModelSync
from app.services.repository import Commands, Repository
from domain.token import ApiToken, Role
from projections.tokens import TokenRow, any_token, find_token, list_tokens

TOKEN_PREFIX = "mr_"
CACHE_MAX = 10_000
BOOTSTRAP_TOKEN_ID = uuid5(NAMESPACE_URL, "modelrepo:bootstrap-admin-token")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name (recorded as the actor of events) and role."""

    token_id: str
    name: str
    role: Role

    @property
    def actor(self) -> str:
        return self.name


def hash_secret(secret: str) -> str:
    # The secrets are 256 random bits, so a fast hash is enough (no password stretching);
    # lookups go by hash, so no secret is ever compared character by character.
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenService:
    def __init__(
        self,
        repository: Repository,
        projector: ReadModelSync,
        db: Database,
        cache_seconds: float = 1.0,
    ) -> None:
        self.repo = repository
        self.commands = Commands(repository, projector)
        self.db = db
        # Lookups are cached briefly: a revocation here applies at once; one made by
        # another server process applies within cache_seconds.
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def create(
        self, name: str, role: Role | str, *, meta: EventMeta, token_id: UUID | None = None
    ) -> tuple[str, ApiToken]:
        """A new token and its secret (shown once, never stored)."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken.create(name, role, hash_secret(secret), token_id)
        await self.commands.save(token, meta=meta)
        return secret, token

    async def revoke(self, token_id: str | UUID, *, meta: EventMeta) -> ApiToken:
        tid = parse_id(token_id, "tokenId")
        token, _ = await self.commands.change(tid, ApiToken, "token", ApiToken.revoke, meta=meta)
        self._cache.clear()
        return token

    async def authenticate(self, secret: str) -> Principal | None:
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        digest = hash_secret(secret)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        row = await find_token(self.db, digest)
        principal = None
        if row is not None and not row.revoked:
            principal = Principal(token_id=row.id, name=row.name, role=Role(row.role))
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now, principal)
        return principal

    async def still_grants(self, principal: Principal) -> bool:
        """Whether the token, as recorded in the event store now (not a cached lookup, not
        a read model that may lag), is unrevoked and has the principal's role."""
        token = await self.repo.find(UUID(principal.token_id), ApiToken)
        return token is not None and not token.revoked and token.role == principal.role.value

    async def list(self) -> list[TokenRow]:
        return await list_tokens(self.db)

    async def bootstrap_admin(self) -> str | None:
        """On an empty store, create the first admin token and return its secret (once).

        Two processes starting together cannot both create one: the token id is fixed."""
        if await any_token(self.db):
            return None
        try:
            secret, _ = await self.create(
                "bootstrap-admin",
                Role.ADMIN,
                meta=EventMeta(actor="system", reason="first start of an empty store"),
                token_id=BOOTSTRAP_TOKEN_ID,
            )
        except ConcurrencyConflict:
            return None
        return secret
