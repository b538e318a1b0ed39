"""`versionDownloadLink`: a short-lived signed URL for a version's package or one file, which
a browser can simply navigate to (no token to send, nothing held in page memory)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

import strawberry

from app.graphql.context import Info
from app.graphql.errors import NotFound, ValidationError
from app.graphql.models.files import base_url
from app.graphql.permissions import IsViewer
from app.http.links import LINK_SECONDS, PACKAGE, link_key, signed_query
from app.services.ids import parse_id
from domain.errors import NotFound as NotFoundError
from domain.errors import ValidationError as DomainValidationError
from projections.versions import file_sets, files, get_versions


@strawberry.type(description="A URL that downloads without a token until it expires.")
class DownloadLink:
    url: str
    expires_at: datetime


DownloadLinkResult = Annotated[
    DownloadLink | NotFound | ValidationError, strawberry.union("DownloadLinkResult")
]


@strawberry.type
class DownloadLinkMutations:
    @strawberry.mutation(
        permission_classes=[IsViewer],
        description=f"A link to the version's files as one zip (or to one file with path),"
        f" of the active file set unless revision is given; valid {LINK_SECONDS} seconds.",
    )
    async def version_download_link(
        self,
        info: Info,
        version_id: strawberry.ID,
        path: str | None = None,
        revision: int | None = None,
    ) -> DownloadLinkResult:
        url, expires = await _mint(info, str(version_id), path, revision)
        return DownloadLink(url=url, expires_at=datetime.fromtimestamp(expires, UTC))


async def _mint(
    info: Info, version_ref: str, path: str | None, revision: int | None
) -> tuple[str, int]:
    container = info.context.container
    version_id = str(parse_id(version_ref, "versionId"))
    version = (await get_versions(container.db, [version_id])).get(version_id)
    if version is None:
        raise NotFoundError("version", version_id)
    chosen = version.active_revision if revision is None else revision
    if chosen is None:
        raise DomainValidationError("versionId", f"V{version.number} has no files")
    if chosen not in {s.revision for s in await file_sets(container.db, version_id)}:
        raise NotFoundError(f"file set of V{version.number}", str(chosen))
    target = PACKAGE
    if path is not None:
        if path not in {f.path for f in await files(container.db, version_id, chosen)}:
            raise NotFoundError(f"file of V{version.number}", repr(path[:200]))
        target = f"files/{path}"
    key = link_key(container.settings)
    query, expires = signed_query(key, version_id, target, chosen)
    route = PACKAGE if path is None else f"files/{quote(path)}"
    return f"{base_url(info)}/v1/versions/{version_id}/{route}?{query}", expires
