"""GraphQL types for a version's files: file-set revisions, manifests, download links."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, NewType
from urllib.parse import quote

import strawberry

from app.graphql.context import Info

# Sizes in bytes outgrow GraphQL's 32-bit Int; the schema maps this to a BigInt scalar.
BigInt = NewType("BigInt", int)

BIG_INT_SCALAR = strawberry.scalar(
    name="BigInt",
    description="An integer that may not fit in 32 bits (sizes in bytes).",
    serialize=int,
    parse_value=int,
)


@strawberry.enum
class FileSetState(Enum):
    ACTIVE = "ACTIVE"
    PENDING = "PENDING"
    INACTIVE = "INACTIVE"


@strawberry.type(description="One file of a version's package.")
class PackageFile:
    path: str
    size: BigInt
    sha256: str
    download_url: str = strawberry.field(
        description="A presigned URL on S3 storage; otherwise this server's file route"
        " (send the Authorization header)."
    )


@strawberry.type(
    description="One revision of a version's files. Re-uploads add PENDING revisions that"
    " a service update makes ACTIVE."
)
class FileSet:
    revision: int
    state: FileSetState
    size: BigInt
    file_count: int
    storage_uri: str
    created_at: datetime | None


def base_url(info: Info) -> str:
    request = info.context.request
    return str(request.base_url).rstrip("/") if request is not None else ""


def package_url(info: Info, version_id: str) -> str:
    return f"{base_url(info)}/v1/versions/{version_id}/package.zip"


async def file_url(info: Info, version_id: str, prefix: str, revision: int, path: str) -> str:
    presigned = await info.context.container.storage.presigned_get_url(f"{prefix}/{path}")
    if presigned is not None:
        return presigned
    return f"{base_url(info)}/v1/versions/{version_id}/files/{quote(path)}?revision={revision}"


def storage_uri(info: Info, prefix: str) -> str:
    return f"{info.context.container.storage.uri}/{prefix}"


def state_of(revision: int, active: int | None, pending: int | None) -> FileSetState:
    if revision == active:
        return FileSetState.ACTIVE
    if revision == pending:
        return FileSetState.PENDING
    return FileSetState.INACTIVE


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
