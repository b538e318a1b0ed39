"""A version's files as they were at a past moment (``asOf``), from its events."""

from __future__ import annotations

from typing import Any

from app.graphql.context import Info
from app.graphql.models.types import FileSet, state_of
from app.graphql.scalars import BigInt
from app.graphql.urls import storage_uri


def file_sets_from_events(
    info: Info, sets: list[dict[str, Any]], active: int | None, pending: int | None
) -> list[FileSet]:
    return [
        FileSet(
            revision=s["revision"],
            state=state_of(s["revision"], active, pending),
            size=BigInt(s["size"]),
            file_count=len(s["files"]),
            storage_uri=storage_uri(info, s["prefix"]),
            created_at=None,
        )
        for s in sets
    ]
