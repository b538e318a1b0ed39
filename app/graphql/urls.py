"""The URLs and storage locations the API hands out for versions and their files."""

from __future__ import annotations

from urllib.parse import quote

from app.graphql.context import Info


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
