"""Loading a version's files into a runtime: manifest from the read model, bytes from the
content-keyed cache, runtime from the name table. Shared by the data plane and batch runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from app.packages.redact import without_paths
from app.serving.cache import ModelCache
from app.serving.runtimes.base import Runtime, RuntimeFailure, RuntimeOptions
from app.serving.runtimes.registry import runtime_for
from projections.base import Reader
from projections.versions import VersionRow, file_sets, files, get_versions


async def version_row(db: Reader, version_id: str) -> VersionRow:
    version = (await get_versions(db, [version_id])).get(version_id)
    if version is None:
        raise RuntimeFailure(f"version {version_id} no longer exists")
    return version


async def load_runtime(
    db: Reader,
    cache: ModelCache,
    version: VersionRow,
    *,
    runtime_name: str | None = None,
    file_revision: int | None = None,
    options: RuntimeOptions | None = None,
) -> Runtime:
    """A loaded runtime for a version's file set (the active one by default)."""
    revision = file_revision or version.active_revision
    prefixes = {s.revision: s.prefix for s in await file_sets(db, version.id)}
    if revision not in prefixes:
        raise RuntimeFailure(f"V{version.number} has no files to run")
    manifest = await files(db, version.id, revision)
    package = await cache.fetch(prefixes[revision], manifest)
    model_file = version.source.get("model_file")
    if model_file and model_file in {entry.path for entry in manifest}:
        options = dataclasses.replace(options or RuntimeOptions(), model_file=model_file)
    runtime = runtime_for(runtime_name or version.runtime, Path(package), options)
    try:
        await runtime.load()
    except RuntimeFailure as exc:
        # Frameworks name the model file by its path in the cache; clients see the reason.
        exc.message = without_paths(exc.message, [Path(package)])
        exc.args = (exc.message,)
        raise
    return runtime
