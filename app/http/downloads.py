"""Downloads of a version's files: the package as one streamed zip, or single files.

Both need a token (any role) or a signed link (app.http.links). Nothing is buffered whole:
the zip is written (stored, not compressed — model weights do not compress) while the files
stream from storage.
"""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from typing import IO, Any, cast
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.adapters.object_store.port import ObjectStore
from app.bootstrap import Container
from app.http.links import PACKAGE, link_key, link_problem
from app.http.principal import PRINCIPAL
from app.services.ids import parse_id
from domain.errors import ValidationError
from projections.versions import FileRow, get_versions
from projections.versions import file_sets as version_file_sets
from projections.versions import files as version_files

ZIP64_LIMIT = 2**31


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _resolve(request: Request) -> tuple[str, str, int, list[FileRow]] | Response:
    """(version id, storage prefix, revision, files) of the asked file set, or an error."""
    signed = request.scope.get(PRINCIPAL) is None and "signature" in request.query_params
    if request.scope.get(PRINCIPAL) is None and not signed:
        return _problem(401, "authentication required: send Authorization: Bearer <token>")
    try:
        version_id = str(parse_id(request.path_params["version_id"], "versionId"))
    except ValidationError as exc:
        return _problem(400, str(exc))
    if signed:
        path = request.path_params.get("path")
        target = PACKAGE if path is None else f"files/{path}"
        key = link_key(_container(request).settings)
        problem = link_problem(key, version_id, target, request.query_params)
        if problem is not None:
            return _problem(403, problem)
    db = _container(request).db
    version = (await get_versions(db, [version_id])).get(version_id)
    if version is None:
        return _problem(404, f"version {version_id} not found")
    asked = request.query_params.get("revision")
    if asked is not None and not asked.isdigit():
        return _problem(400, "revision must be a positive integer")
    revision = int(asked) if asked is not None else version.active_revision
    if revision is None:
        return _problem(409, f"version V{version.number} has no files ({version.status})")
    prefixes = {s.revision: s.prefix for s in await version_file_sets(db, version_id)}
    if revision not in prefixes:
        return _problem(404, f"version V{version.number} has no file set {revision}")
    return version_id, prefixes[revision], revision, await version_files(db, version_id, revision)


async def package_zip(request: Request) -> Response:
    resolved = await _resolve(request)
    if isinstance(resolved, Response):
        return resolved
    version_id, prefix, revision, files = resolved
    storage = _container(request).storage
    name = f"{version_id}-r{revision}.zip"
    return StreamingResponse(
        zip_stream(storage, prefix, files),
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def package_file(request: Request) -> Response:
    resolved = await _resolve(request)
    if isinstance(resolved, Response):
        return resolved
    _, prefix, _, files = resolved
    path = request.path_params["path"]
    entry = next((f for f in files if f.path == path), None)
    if entry is None:
        return _problem(404, f"no file {path!r} in this file set")
    storage = _container(request).storage
    filename = quote(path.rsplit("/", 1)[-1])
    return StreamingResponse(
        storage.get(f"{prefix}/{path}"),
        media_type="application/octet-stream",
        headers={
            "content-length": str(entry.size),
            "content-disposition": f"attachment; filename*=UTF-8''{filename}",
            "x-content-sha256": entry.sha256,
        },
    )


class _Sink:
    """A write-only stream for zipfile that hands out what was written so far."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


async def zip_stream(
    storage: ObjectStore, prefix: str, files: list[FileRow]
) -> AsyncIterator[bytes]:
    sink = _Sink()
    # Without seek() zipfile writes data descriptors, so entries stream in one pass.
    archive = zipfile.ZipFile(
        cast(IO[bytes], sink), "w", compression=zipfile.ZIP_STORED, allowZip64=True
    )
    try:
        for entry in files:
            info = zipfile.ZipInfo(entry.path)
            info.file_size = entry.size
            with archive.open(info, "w", force_zip64=entry.size >= ZIP64_LIMIT) as member:
                async for chunk in storage.get(f"{prefix}/{entry.path}"):
                    member.write(chunk)
                    if data := sink.take():
                        yield data
            if data := sink.take():
                yield data
    finally:
        archive.close()
    yield sink.take()


# Mounted under /v1/versions behind the token gate.
routes = [
    Route("/{version_id}/package.zip", package_zip, methods=["GET"]),
    Route("/{version_id}/files/{path:path}", package_file, methods=["GET"]),
]
