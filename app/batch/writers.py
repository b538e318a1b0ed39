"""Idempotent output: one part object per input chunk, then a ``_SUCCESS`` manifest.

A part's name comes from its chunk's position (``<prefix>/part-00001-000042.csv`` for
file 1, chunk 42), and ``store.put`` replaces it atomically, so a retried run rewrites the
same parts instead of adding rows. ``finalize`` writes the manifest last, after removing
parts this run did not produce (left by an attempt with another chunk size), so the
prefix then holds exactly the listed rows. The first write removes an old manifest: a
prefix without ``_SUCCESS`` is incomplete.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from app.adapters.object_store.port import ObjectStore, normalize_prefix
from app.batch.chunks import Chunk, ChunkPosition, DataFormat
from app.batch.errors import MissingColumns

MANIFEST = "_SUCCESS"
WRITE_CHECK = "_WRITE_CHECK"
PUT_PIECE_BYTES = 1024 * 1024
_PART = re.compile(r"part-\d+-\d+\.[a-z]+")


@dataclass(frozen=True, slots=True)
class PartInfo:
    key: str
    file_index: int
    chunk_index: int
    rows: int
    size: int
    sha256: str | None = None


class OutputWriter:
    """Writes a run's outputs under ``output_prefix`` in ``fmt``; ``id_column`` names an
    input column copied as the first output column."""

    def __init__(
        self,
        store: ObjectStore,
        output_prefix: str,
        fmt: DataFormat | str,
        *,
        id_column: str | None = None,
    ) -> None:
        prefix = normalize_prefix(output_prefix)
        if not prefix:
            raise ValueError("the output prefix must not be empty (the whole store)")
        self._store = store
        self._prefix = prefix
        self._format = DataFormat.parse(fmt)
        self._id_column = id_column
        self._parts: dict[ChunkPosition, PartInfo] = {}
        self._started = False

    @property
    def parts(self) -> list[PartInfo]:
        return [self._parts[p] for p in sorted(self._parts)]

    @property
    def manifest_key(self) -> str:
        return self._prefix + MANIFEST

    def part_key(self, position: ChunkPosition) -> str:
        name = f"part-{position.file_index:05d}-{position.chunk_index:06d}"
        return f"{self._prefix}{name}.{self._format.extension}"

    async def write(self, chunk: Chunk, outputs: Mapping[str, Any] | pd.DataFrame) -> PartInfo:
        """Write the outputs for ``chunk``: named arrays with one row per input row (a 2-D
        array ``(rows, k)`` becomes columns ``<name>_0`` … ``<name>_<k-1>``), or a frame."""
        frame = outputs if isinstance(outputs, pd.DataFrame) else outputs_frame(outputs, chunk.rows)
        if len(frame) != chunk.rows:
            raise ValueError(f"{len(frame)} output rows for a chunk of {chunk.rows} rows")
        if self._id_column is not None:
            if self._id_column not in chunk.frame.columns:
                raise MissingColumns(chunk.key, [self._id_column])
            if self._id_column in frame.columns:
                raise ValueError(f"an output is named like the id column {self._id_column!r}")
            ids = chunk.frame[self._id_column].reset_index(drop=True)
            frame = pd.concat([ids, frame.reset_index(drop=True)], axis=1)
        return await self.write_frame(chunk.position, frame)

    async def write_frame(self, position: ChunkPosition, frame: pd.DataFrame) -> PartInfo:
        """Write ``frame`` as the part of ``position``, replacing any part already there."""
        await self._start()
        payload = await asyncio.to_thread(_encode, self._format, frame)
        key = self.part_key(position)
        info = await self._store.put(key, _pieces(payload))
        part = PartInfo(
            key, position.file_index, position.chunk_index, len(frame), info.size, info.sha256
        )
        self._parts[position] = part
        return part

    async def adopt(self, position: ChunkPosition, rows: int) -> PartInfo:
        """Count a part an earlier attempt wrote (when resuming past its chunk)."""
        key = self.part_key(position)
        info = await self._store.head(key)
        if info is None:
            raise ValueError(f"cannot adopt part {key!r}: there is no such object")
        part = PartInfo(key, position.file_index, position.chunk_index, rows, info.size)
        self._parts[position] = part
        return part

    async def finalize(self, *, remove_stale: bool = True) -> dict[str, Any]:
        """Remove stale parts (unless told not to) and write the manifest; return it."""
        await self._start()
        if remove_stale:
            mine = {part.key for part in self._parts.values()}
            for info in await self._store.list(self._prefix):
                name = info.key[len(self._prefix) :]
                if _PART.fullmatch(name) and info.key not in mine:
                    await self._store.delete(info.key)
        parts = self.parts
        manifest = {
            "format": self._format.value,
            "id_column": self._id_column,
            "rows": sum(part.rows for part in parts),
            "parts": [asdict(part) for part in parts],
        }
        payload = json.dumps(manifest, indent=2).encode()
        await self._store.put(self.manifest_key, _pieces(payload))
        return manifest

    async def prepare(self) -> None:
        """Check that the location takes writes (a small object written and removed) and
        remove an old manifest: call it before the expensive work."""
        probe = self._prefix + WRITE_CHECK
        await self._store.put(probe, _pieces(b"modelrepo write check\n"))
        await self._store.delete(probe)
        await self._start()

    async def discard(self) -> None:
        """Remove the parts written so far (a cancelled run leaves no partial output)."""
        for part in self.parts:
            await self._store.delete(part.key)
        self._parts.clear()

    async def _start(self) -> None:
        if not self._started:
            await self._store.delete(self.manifest_key)
            self._started = True


def outputs_frame(outputs: Mapping[str, Any], rows: int) -> pd.DataFrame:
    """A frame of ``rows`` rows from named output arrays (see :meth:`OutputWriter.write`)."""
    columns: dict[str, np.ndarray] = {}
    for name, value in outputs.items():
        array = np.asarray(value)
        if array.ndim == 0 or array.shape[0] != rows:
            got = "a scalar" if array.ndim == 0 else f"{array.shape[0]} rows"
            raise ValueError(f"output {name!r} has {got}; the chunk has {rows} rows")
        if array.ndim > 1:
            array = array.reshape(rows, -1)
        if array.ndim == 1 or array.shape[1] == 1:
            columns[name] = array.reshape(rows)
        else:
            for at in range(array.shape[1]):
                columns[f"{name}_{at}"] = array[:, at]
    return pd.DataFrame(columns)


def _encode(fmt: DataFormat, frame: pd.DataFrame) -> bytes:
    if fmt is DataFormat.CSV:
        return frame.to_csv(index=False, lineterminator="\n").encode()
    if fmt is DataFormat.JSONL:
        text = frame.to_json(orient="records", lines=True, double_precision=15) or ""
        return (text if text.endswith("\n") or not text else text + "\n").encode()
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


async def _pieces(payload: bytes) -> AsyncIterator[bytes]:
    view = memoryview(payload)
    for at in range(0, len(view), PUT_PIECE_BYTES):
        yield bytes(view[at : at + PUT_PIECE_BYTES])
