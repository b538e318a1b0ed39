"""Where an import's files come from: an upload, object storage (a URI, or a training task's
output), or a folder the server prepared itself. Each source is resolved and checked into a
``Plan`` before anything is written; the import service then runs the plan (see
``app.services.imports``).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from app.adapters.object_store.port import ObjectStore, ObjectStoreError
from app.adapters.object_store.uri import ObjectUri, parse_object_uri
from app.files import open_file
from app.packages import ArchiveLimits, UnsafeName, check_file_name, extract_archive, is_archive
from app.packages.file_names import shown
from app.services._local_copies import Tee, write_local
from app.services.models import VersionSpec
from domain.errors import DomainError, ValidationError
from domain.version import FileEntry

ReadChunk = Callable[[int], Awaitable[bytes]]
SourceOpener = Callable[[ObjectUri], Awaitable[ObjectStore]]
CHUNK = 1024 * 1024


class SourceUnavailable(DomainError):
    """The source of an import cannot be read (missing bucket, refused credentials, ...)."""


@dataclass(frozen=True, slots=True)
class UploadSource:
    """One uploaded file (a model file, or a .zip / .tar.gz package)."""

    filename: str
    read: ReadChunk


@dataclass(frozen=True, slots=True)
class UriSource:
    uri: str
    move: bool = False


@dataclass(frozen=True, slots=True)
class TaskSource:
    task_id: str
    move: bool = False


@dataclass(frozen=True, slots=True)
class LocalSource:
    """A package folder the server prepared itself (an optimization's output); ``source``
    is what the version records as its source."""

    folder: Path
    source: dict[str, str]


Source = UploadSource | UriSource | TaskSource | LocalSource


@dataclass(frozen=True, slots=True)
class Plan:
    """A source resolved and checked before anything is written: ``fetch`` brings the files
    into a local folder and the store under a prefix, ``finish`` runs once the version is
    recorded (a move deletes the originals), ``close`` always runs."""

    spec: VersionSpec
    fetch: Callable[[Path, str], Awaitable[list[FileEntry]]]
    finish: Callable[[], Awaitable[None]]
    close: Callable[[], Awaitable[None]]


def plan_upload(
    spec: VersionSpec, source: UploadSource, storage: ObjectStore, limits: ArchiveLimits
) -> Plan:
    try:
        filename = check_file_name(source.filename).rsplit("/", 1)[-1]
    except UnsafeName as exc:
        raise ValidationError("file", f"file name refused: {exc}") from None

    async def fetch(package: Path, prefix: str) -> list[FileEntry]:
        upload = package.parent / "upload"
        await write_local(upload, _read_all(source.read))
        if await asyncio.to_thread(is_archive, upload):
            await asyncio.to_thread(extract_archive, upload, package, limits)
        else:
            await asyncio.to_thread(_move_into, upload, package, filename)
        return await _store_tree(storage, package, prefix)

    return Plan(
        spec=replace(spec, source={"kind": "upload", "uri": filename}),
        fetch=fetch,
        finish=_nothing,
        close=_nothing,
    )


def plan_local(spec: VersionSpec, source: LocalSource, storage: ObjectStore) -> Plan:
    async def fetch(package: Path, prefix: str) -> list[FileEntry]:
        await asyncio.to_thread(shutil.copytree, source.folder, package)
        return await _store_tree(storage, package, prefix)

    return Plan(
        spec=replace(spec, source=source.source), fetch=fetch, finish=_nothing, close=_nothing
    )


async def plan_uri(
    spec: VersionSpec,
    uri: str,
    move: bool,
    source: dict[str, str],
    storage: ObjectStore,
    open_source: SourceOpener,
) -> Plan:
    """Copy (or move) every object under ``uri``; the origin is listed here, so a missing
    bucket or an empty prefix is refused before anything is recorded."""
    try:
        parsed = parse_object_uri(uri)
    except ValueError as exc:
        raise ValidationError("uri", str(exc)) from None
    try:
        origin = await open_source(parsed)
    except ObjectStoreError as exc:
        raise SourceUnavailable(f"cannot read {parsed}: {exc}") from None
    try:
        objects = await origin.list(parsed.prefix)
    except ObjectStoreError as exc:
        await origin.close()
        raise SourceUnavailable(f"cannot list {parsed}: {exc}") from None
    if not objects:
        await origin.close()
        raise ValidationError("uri", f"there are no files under {parsed}")
    base = f"{parsed.prefix}/" if parsed.prefix else ""
    for info in objects:  # refused before anything is recorded, naming the object
        relative = info.key.removeprefix(base) if base else info.key
        try:
            check_file_name(relative)
        except UnsafeName as exc:
            await origin.close()
            raise ValidationError("uri", f"object {shown(info.key)}: {exc}") from None

    async def fetch(package: Path, prefix: str) -> list[FileEntry]:
        entries = []
        for info in objects:
            relative = info.key.removeprefix(base) if base else info.key
            path = check_file_name(relative)
            tee = Tee(package / path)
            stored = await storage.put(f"{prefix}/{path}", tee.through(origin.get(info.key)))
            await tee.close()
            if stored.size != info.size:
                raise ObjectStoreError(f"{info.key}: copied {stored.size} of {info.size} bytes")
            entries.append(FileEntry(path=path, size=stored.size, sha256=stored.sha256 or ""))
        return entries

    async def finish() -> None:
        if move:  # copied and verified (sizes, then READY recorded): now delete
            for info in objects:
                await origin.delete(info.key)

    mode = "move" if move else "copy"
    return Plan(
        spec=replace(spec, source={**source, "uri": str(parsed), "mode": mode}),
        fetch=fetch,
        finish=finish,
        close=origin.close,
    )


def _move_into(upload: Path, package: Path, filename: str) -> None:
    package.mkdir()
    upload.rename(package / filename)


async def _nothing() -> None:
    return None


async def _read_all(read: ReadChunk) -> AsyncIterator[bytes]:
    while chunk := await read(CHUNK):
        yield chunk


async def _store_tree(storage: ObjectStore, package: Path, prefix: str) -> list[FileEntry]:
    entries = []
    files = await asyncio.to_thread(lambda: sorted(p for p in package.rglob("*") if p.is_file()))
    for path in files:
        relative = path.relative_to(package).as_posix()
        stored = await storage.put(f"{prefix}/{relative}", _read_file(path))
        entries.append(FileEntry(path=relative, size=stored.size, sha256=stored.sha256 or ""))
    return entries


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    handle = await open_file(path, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        handle.close()
