"""Batch input and output on the object store: the public names in one place.

Readers live in :mod:`app.batch.readers`, writers in :mod:`app.batch.writers`;
:func:`check_locations` guards a job against writing where it reads.
"""

from __future__ import annotations

from app.batch.chunks import Chunk, ChunkPosition, DataFormat, OnError, ReadReport
from app.batch.errors import MalformedInput, MissingColumns
from app.batch.readers import InputNotFound, input_keys, iter_input, read_columns
from app.batch.writers import MANIFEST, OutputWriter, PartInfo, outputs_frame

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
    """Raise ValueError when the output would land on the input: the same location, the
    output under the input prefix (a later run would read the outputs as input), or the
    input under the output prefix (writing and cleaning up parts could replace it).

    Locations are keys or prefixes in one store, or URIs (``s3://bucket/prefix``);
    a trailing ``/`` and the scheme's case do not matter."""
    source, target = _normalized(input_location), _normalized(output_location)
    if source == target:
        raise ValueError(
            f"the output location {output_location!r} is the input location; "
            "write the outputs somewhere else"
        )
    if target.startswith(source + "/"):
        raise ValueError(
            f"the output location {output_location!r} is inside the input location "
            f"{input_location!r}; a later run would read the outputs as input"
        )
    if source.startswith(target + "/"):
        raise ValueError(
            f"the input location {input_location!r} is inside the output location "
            f"{output_location!r}; writing the outputs could replace the input"
        )


def _normalized(location: str) -> str:
    scheme, sep, rest = location.strip().partition("://")
    if sep:
        return f"{scheme.lower()}://{rest.rstrip('/')}"
    return location.strip().strip("/")
