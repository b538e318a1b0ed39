"""Blocking parsers of one spooled local file into frames of exactly ``chunk_rows`` rows
(the last one shorter). The readers drive them from a worker thread.

Column types are inferred per chunk, the way pandas infers them: CSV values are read as
text and each column becomes int64, float64, bool or text, whichever holds all its
values; empty fields and the usual NA spellings are missing. So a column may be int64 in
one chunk and float64 in the next; a ``cast`` step makes it uniform.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from app.batch.chunks import DataFormat, RowErrors
from app.batch.errors import MalformedInput, MissingColumns

CSV_BLOCK_BYTES = 1024 * 1024
_BOOL_TEXT = ("true", "false", "True", "False", "TRUE", "FALSE")
_NUMBERS = (pa.int64(), pa.float64())


def frames(
    fmt: DataFormat,
    path: Path,
    key: str,
    chunk_rows: int,
    columns: Sequence[str] | None,
    errors: RowErrors,
) -> Generator[pd.DataFrame]:
    if fmt is DataFormat.CSV:
        return _csv_frames(path, key, chunk_rows, columns, errors)
    if fmt is DataFormat.JSONL:
        return _jsonl_frames(path, key, chunk_rows, columns, errors)
    return _parquet_frames(path, key, chunk_rows, columns)


def header(fmt: DataFormat, path: Path, key: str) -> list[str]:
    """The file's columns: the CSV header, the Parquet schema, the keys of the first JSON
    Lines object."""
    if fmt is DataFormat.CSV:
        return _csv_header(path, key)
    if fmt is DataFormat.JSONL:
        for _, record in _json_records(path, key, None):
            return list(record)
        return []
    with path.open("rb") as file:
        try:
            return list(pq.ParquetFile(file).schema_arrow.names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise MalformedInput(f"input {key!r} is not a valid Parquet file: {exc}") from exc


def header_complete(fmt: DataFormat, head: bytes | bytearray) -> bool:
    """Whether the first bytes of a file are enough for :func:`header`: a whole CSV
    record, a whole JSON Lines line holding an object (Parquet needs the whole file)."""
    if fmt is DataFormat.PARQUET:
        return False
    end = head.find(b"\n")
    while end >= 0:
        line_start = head.rfind(b"\n", 0, end) + 1
        if fmt is DataFormat.CSV and head.count(b'"', 0, end) % 2 == 0:
            return True
        if fmt is DataFormat.JSONL and _is_object(head[line_start:end]):
            return True
        end = head.find(b"\n", end + 1)
    return False


def _is_object(line: bytes | bytearray) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _check_columns(key: str, available: Sequence[str], wanted: Sequence[str] | None) -> None:
    missing = [c for c in wanted or () if c not in available]
    if missing:
        raise MissingColumns(key, missing)


# -- CSV -----------------------------------------------------------------------------------


def _csv_header(path: Path, key: str) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as file:
        names = next(csv.reader(file), None)
    if not names or names == [""]:
        raise MalformedInput(f"input {key!r} has no CSV header row (the first row names columns)")
    seen: set[str] = set()
    for name in names:
        if not name:
            raise MalformedInput(f"input {key!r} has an empty column name in its CSV header")
        if name in seen:
            raise MalformedInput(f"input {key!r} names column {name!r} twice in its CSV header")
        seen.add(name)
    return names


def _csv_frames(
    path: Path, key: str, chunk_rows: int, columns: Sequence[str] | None, errors: RowErrors
) -> Generator[pd.DataFrame]:
    names = _csv_header(path, key)
    _check_columns(key, names, columns)

    def on_invalid(row: Any) -> str:
        where = f"row {row.number} (the header is row 1)" if row.number else "a row"
        reason = f"expected {row.expected_columns} fields, got {row.actual_columns}"
        return "skip" if errors.bad_row(key, where, reason) else "error"

    options = {
        "read_options": pa_csv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
        "parse_options": pa_csv.ParseOptions(
            newlines_in_values=True, invalid_row_handler=on_invalid
        ),
        "convert_options": pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            include_columns=list(columns) if columns is not None else None,
            strings_can_be_null=True,
        ),
    }
    reader = None
    try:
        reader = pa_csv.open_csv(path, **options)  # parses the first block already
        for table in _rebatch(reader, chunk_rows):
            yield _infer(table).to_pandas()
    except pa.ArrowInvalid as exc:
        if errors.error is not None:
            raise errors.error from None
        raise MalformedInput(f"input {key!r} is not valid CSV: {exc}") from exc
    finally:
        if reader is not None:
            reader.close()


def _infer(table: pa.Table) -> pa.Table:
    for at, name in enumerate(table.column_names):
        column = table.column(at)
        if column.null_count == len(column):
            # All missing: float64 NaN, as pandas reads it, so numeric steps still apply.
            table = table.set_column(at, name, pc.cast(column, pa.float64()))
        else:
            table = table.set_column(at, name, _narrowest(column))
    return table


def _narrowest(column: pa.ChunkedArray) -> pa.ChunkedArray:
    for target in _NUMBERS:
        try:
            return pc.cast(column, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    if pc.all(pc.is_in(column.drop_null(), value_set=pa.array(_BOOL_TEXT))).as_py():
        return pc.equal(pc.utf8_lower(column), "true")
    return column


# -- JSON Lines ----------------------------------------------------------------------------


def _json_records(
    path: Path, key: str, errors: RowErrors | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each valid line; blank lines are ignored, malformed ones
    go to ``errors`` (or are passed over when it is None)."""
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                reason = "" if isinstance(record, dict) else "not a JSON object"
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
                reason = f"not valid JSON ({exc})"
            if not reason:
                yield number, record
            elif errors is not None and not errors.bad_row(key, f"line {number}", reason):
                raise errors.error or MalformedInput(f"input {key!r} line {number}: {reason}")


def _jsonl_frames(
    path: Path, key: str, chunk_rows: int, columns: Sequence[str] | None, errors: RowErrors
) -> Generator[pd.DataFrame]:
    seen: dict[str, None] = {}  # every key so far, in order of appearance
    records: list[dict[str, Any]] = []
    checked = columns is None
    for _, record in _json_records(path, key, errors):
        seen.update(dict.fromkeys(record))
        records.append(record)
        if len(records) == chunk_rows:
            if not checked:  # a column no object of the first chunk has is missing
                _check_columns(key, list(seen), columns)
                checked = True
            yield pd.DataFrame.from_records(records, columns=list(columns or seen))
            records = []
    if records:
        if not checked:
            _check_columns(key, list(seen), columns)
        yield pd.DataFrame.from_records(records, columns=list(columns or seen))


# -- Parquet -------------------------------------------------------------------------------


def _parquet_frames(
    path: Path, key: str, chunk_rows: int, columns: Sequence[str] | None
) -> Generator[pd.DataFrame]:
    with path.open("rb") as file:
        try:
            # pre_buffer (the default) holds whole row groups and grows RSS by ~100 MB
            parquet = pq.ParquetFile(file, pre_buffer=False)
            _check_columns(key, parquet.schema_arrow.names, columns)
            batches = parquet.iter_batches(
                batch_size=chunk_rows, columns=list(columns) if columns is not None else None
            )
            for table in _rebatch(batches, chunk_rows):
                yield table.to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise MalformedInput(f"input {key!r} is not a valid Parquet file: {exc}") from exc


def _rebatch(batches: Any, chunk_rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``chunk_rows`` rows (the last one shorter) from record batches of
    any size; at most one chunk plus one batch is held."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, chunk_rows)
            rest = table.slice(chunk_rows)
            pending = rest.to_batches()
            held = rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)
