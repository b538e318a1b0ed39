"""Resuming a run after its worker died: the parts an earlier attempt wrote are kept.

Chunks are read in position order and each writes one part atomically, so the progress
event's ``through`` (the last position written) says that every part up to it exists.
A new attempt reads the same chunks (same ``chunk_rows``, kept in the progress) and adopts
those parts instead of predicting them again; parts written after the last progress event
are simply written again under the same names, so no row is lost or duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.batch.chunks import Chunk, ChunkPosition
from app.batch.writers import OutputWriter


@dataclass
class Resume:
    chunk_rows: int
    through: ChunkPosition | None = None
    count: int = 0  # parts adopted from earlier attempts

    @classmethod
    def of(cls, progress: dict[str, Any], chunk_rows: int) -> Resume:
        """Where an earlier attempt got to (nothing for a first attempt)."""
        through = progress.get("through")
        pinned = int(progress.get("chunk_rows") or chunk_rows)
        if not isinstance(through, list) or len(through) != 2:
            return cls(pinned)
        return cls(pinned, ChunkPosition(int(through[0]), int(through[1])))

    async def adopted(self, writer: OutputWriter, chunk: Chunk) -> bool:
        """True when an earlier attempt wrote this chunk's part (now counted as written)."""
        if self.through is None or chunk.position > self.through:
            return False
        try:
            await writer.adopt(chunk.position, chunk.rows)
        except ValueError:  # the part is gone: write it again
            return False
        self.count += 1
        return True

    def progress(self, rows: int, files: int, share: float, chunk: Chunk) -> dict[str, Any]:
        return {
            "rows": rows,
            "files": files,
            "share": share,
            "chunk_rows": self.chunk_rows,
            "through": [chunk.file_index, chunk.chunk_index],
        }
