"""Ids as the API gives them: strings that must be UUIDs."""

from __future__ import annotations

from uuid import UUID

from domain.errors import ValidationError


def parse_id(value: str | UUID, field_name: str = "id") -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value).strip())
    except ValueError:
        raise ValidationError(field_name, f"{value!r} is not a valid id") from None
