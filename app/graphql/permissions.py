"""Per-field permissions by token role."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from app.graphql.context import Info
from domain.token import Role


class _HasRole(BasePermission):
    role: Role

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is None:
            self.message = "authentication required: send Authorization: Bearer <token>"
            return False
        if not principal.role.allows(self.role):
            self.message = (
                f"this needs the {self.role.value} role; your token has the"
                f" {principal.role.value} role"
            )
            return False
        return True


class IsViewer(_HasRole):
    role = Role.VIEWER


class IsEditor(_HasRole):
    role = Role.EDITOR


class IsAdmin(_HasRole):
    role = Role.ADMIN
