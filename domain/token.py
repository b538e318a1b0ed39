"""API tokens: bearer secrets with a role. Only a hash of the secret is ever recorded."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyDeleted
from domain.rules import clean_name


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = [Role.VIEWER, Role.EDITOR, Role.ADMIN]
        return order.index(self) >= order.index(needed)


class ApiToken(Aggregate):
    @event("Created")
    def __init__(self, name: str, role: str, token_hash: str) -> None:
        self.name = name
        self.role = role
        self.token_hash = token_hash
        self.revoked = False

    @classmethod
    def create(
        cls, name: str, role: Role | str, token_hash: str, token_id: UUID | None = None
    ) -> ApiToken:
        """A new token; ``token_id`` gives a well-known id (so a second creation conflicts)."""
        fields = {"name": clean_name(name), "role": Role(role).value, "token_hash": token_hash}
        if token_id is None:
            return cls(**fields)
        created: Any = getattr(cls, "Created")  # noqa: B009 - made by the @event decorator
        token: ApiToken = cls._create(created, id=token_id, **fields)
        return token

    def revoke(self) -> None:
        if self.revoked:
            raise AlreadyDeleted("token", self.name, "revoked")
        self._revoked()

    @event("Revoked")
    def _revoked(self) -> None:
        self.revoked = True
