"""Batch input and output on the object store: the public names in one place.

Readers live in :mod:`app.batch.readers`, writers in :mod:`app.batch.writers`;
:func:`check_locations` guards a job against writing where it reads.
"""

from __future__ import annotations

from app.batch.chunks import Chunk, ChunkPosition, DataFormat, OnError, ReadReport
from app.batch.errors import MalformedInput, MissingColumns
from app.batch.readers import InputNotFound, input_keys, iter_input, read_columns
from app.batch.writers import MANIFEST, OutputWriter, PartInfo, outputs_frame
from domain.batch import location_overlap

__all__ = [
    "MANIFEST",
    "Chunk",
    "ChunkPosition",
    "DataFormat",
    "InputNotFound",
    "MalformedInput",
    "MissingColumns",
    "OnError",
    "OutputWriter",
    "PartInfo",
    "ReadReport",
    "check_locations",
    "input_keys",
    "iter_input",
    "outputs_frame",
    "read_columns",
]


def check_locations(input_location: str, output_location: str) -> None:
    """Raise ValueError when the output would land on the input (see
    :func:`domain.batch.location_overlap`, which jobs are checked with)."""
    problem = location_overlap(input_location, output_location)
    if problem is not None:
        raise ValueError(problem)
