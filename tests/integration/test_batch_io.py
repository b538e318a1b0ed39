"""Batch input and output on a local object store: chunked reads of every format, prefixes,
malformed rows, idempotent parts and the memory bound on a large CSV."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.adapters.object_store.local import LocalObjectStore
from app.batch.io import (
    MANIFEST,
    Chunk,
    ChunkPosition,
    DataFormat,
    InputNotFound,
    MalformedInput,
    MissingColumns,
    OutputWriter,
    ReadReport,
    check_locations,
    iter_input,
    read_columns,
)
from app.batch.steps import apply_steps, check_columns, parse_steps, required_columns

FORMATS = list(DataFormat)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "store")


async def once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def encode(frame: pd.DataFrame, fmt: DataFormat) -> bytes:
    if fmt is DataFormat.CSV:
        return frame.to_csv(index=False).encode()
    if fmt is DataFormat.JSONL:
        return frame.to_json(orient="records", lines=True).encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, row_group_size=4)  # several row groups
    return buffer.getvalue()


def sample(rows: int, start: int = 0) -> pd.DataFrame:
    ids = np.arange(start, start + rows)
    return pd.DataFrame(
        {"id": ids, "x": ids * 0.5, "name": [f"n{i}" for i in ids], "flag": ids % 2 == 0}
    )


async def read_all(store: LocalObjectStore, source: str, fmt: DataFormat, **kw: Any) -> list[Chunk]:
    return [chunk async for chunk in iter_input(store, source, fmt, **kw)]


def joined(chunks: list[Chunk]) -> pd.DataFrame:
    return pd.concat([c.frame for c in chunks], ignore_index=True)


async def test_a_read_cancelled_while_its_spool_file_is_made_leaves_no_file_open(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool file is created on the reader's thread; a caller that is cancelled
    meanwhile never gets it, so it must not stay behind (nor its descriptor)."""
    await store.put("in/a.csv", once(encode(sample(5), DataFormat.CSV)))
    spool = tmp_path / "spool"
    spool.mkdir()
    creating = threading.Event()
    created = threading.Event()
    real_mkstemp = tempfile.mkstemp

    def slow_mkstemp(**kwargs: Any) -> tuple[int, str]:
        creating.set()
        time.sleep(0.3)
        made = real_mkstemp(**kwargs)
        created.set()
        return made

    monkeypatch.setattr(tempfile, "mkstemp", slow_mkstemp)
    descriptors = len(os.listdir("/proc/self/fd"))
    task = asyncio.create_task(read_columns(store, "in/a.csv", "csv", spool_dir=spool))
    await asyncio.to_thread(creating.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(created.wait, 5)
    for _ in range(100):  # the clean-up runs on the loop once the thread is done
        if not any(spool.iterdir()):
            break
        await asyncio.sleep(0.01)
    assert list(spool.iterdir()) == []
    assert len(os.listdir("/proc/self/fd")) == descriptors


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
async def test_round_trip_through_reader_steps_and_writer(
    store: LocalObjectStore, fmt: DataFormat
) -> None:
    data = sample(10)
    await store.put(f"in/data.{fmt}", once(encode(data, fmt)))

    chunks = await read_all(store, f"in/data.{fmt}", fmt, chunk_rows=3)
    assert [(c.chunk_index, c.first_row, c.rows) for c in chunks] == [
        (0, 0, 3),
        (1, 3, 3),
        (2, 6, 3),
        (3, 9, 1),
    ]
    pd.testing.assert_frame_equal(joined(chunks), data, check_dtype=False)
    assert joined(chunks)["x"].dtype == np.float64

    steps = parse_steps([{"kind": "standard_scale", "column": "x", "mean": 1, "std": 2}])
    writer = OutputWriter(store, "out", fmt, id_column="id")
    for chunk in chunks:
        scaled = apply_steps(steps, chunk.frame)
        await writer.write(chunk, {"y": scaled["x"].to_numpy(), "p": np.ones((chunk.rows, 2))})
    manifest = await writer.finalize()

    assert manifest["rows"] == 10
    names = [part["key"] for part in manifest["parts"]]
    assert names == [f"out/part-00000-00000{i}.{fmt.extension}" for i in range(4)]
    back = joined(await read_all(store, "out", fmt, chunk_rows=100))  # _SUCCESS is skipped
    assert list(back.columns) == ["id", "y", "p_0", "p_1"]
    assert back["id"].tolist() == list(range(10))
    assert back["y"].tolist() == [(i * 0.5 - 1) / 2 for i in range(10)]
    stored = b"".join([piece async for piece in store.get(f"out/{MANIFEST}")])
    assert json.loads(stored) == manifest


@pytest.mark.parametrize("fmt", FORMATS)
async def test_read_columns(store: LocalObjectStore, fmt: DataFormat) -> None:
    await store.put(f"in/a.{fmt}", once(encode(sample(5), fmt)))
    assert await read_columns(store, "in", fmt) == ["id", "x", "name", "flag"]


async def test_read_columns_fetches_only_the_start_of_a_csv(
    store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.put("in/big.csv", once(encode(sample(50_000), DataFormat.CSV)))
    fetched: list[int] = []
    real_get = store.get

    def counting_get(key: str, *, chunk_size: int = 1024) -> AsyncIterator[bytes]:
        fetched.append(chunk_size)
        return real_get(key, chunk_size=chunk_size)

    monkeypatch.setattr(store, "get", counting_get)
    assert await read_columns(store, "in/big.csv", "CSV") == ["id", "x", "name", "flag"]
    assert fetched == [64 * 1024]


async def test_a_prefix_is_read_file_by_file_in_key_order(store: LocalObjectStore) -> None:
    for name, start in [("b.csv", 10), ("a.csv", 0), ("sub/c.csv", 20)]:
        await store.put(f"in/{name}", once(encode(sample(4, start), DataFormat.CSV)))
    await store.put("in/_SUCCESS", once(b"{}"))
    await store.put("in/.hidden", once(b"junk"))
    await store.put("input-elsewhere.csv", once(b"id\n99\n"))

    report = ReadReport()
    chunks = await read_all(store, "in/", DataFormat.CSV, chunk_rows=3, report=report)
    assert [(c.key, c.file_index, c.chunk_index) for c in chunks] == [
        ("in/a.csv", 0, 0),
        ("in/a.csv", 0, 1),
        ("in/b.csv", 1, 0),
        ("in/b.csv", 1, 1),
        ("in/sub/c.csv", 2, 0),
        ("in/sub/c.csv", 2, 1),
    ]
    assert joined(chunks)["id"].tolist() == [*range(4), *range(10, 14), *range(20, 24)]
    assert report.files == ["in/a.csv", "in/b.csv", "in/sub/c.csv"]
    assert report.rows == 12

    resumed = await read_all(store, "in", DataFormat.CSV, chunk_rows=3, start=ChunkPosition(1, 1))
    assert [c.position for c in resumed] == [
        ChunkPosition(1, 1),
        ChunkPosition(2, 0),
        ChunkPosition(2, 1),
    ]
    assert resumed[0].frame["id"].tolist() == [13]


async def test_missing_input_and_missing_columns(store: LocalObjectStore) -> None:
    with pytest.raises(InputNotFound, match="no input at 'nothing'"):
        await read_all(store, "nothing", DataFormat.CSV, chunk_rows=2)
    await store.put("in/a.csv", once(b"id,x\n1,2\n"))
    with pytest.raises(MissingColumns, match=r"input 'in/a\.csv' has no column 'y'"):
        await read_all(store, "in", DataFormat.CSV, chunk_rows=2, columns=["x", "y"])

    steps = parse_steps([{"kind": "clip", "column": "y", "upper": 1}])
    header = await read_columns(store, "in", DataFormat.CSV)
    assert check_columns(steps, header) == [
        "step 0 (clip) reads column 'y', which is not there (available: 'id', 'x')"
    ]


async def test_only_the_required_columns_are_loaded(store: LocalObjectStore) -> None:
    await store.put("in/a.parquet", once(encode(sample(6), DataFormat.PARQUET)))
    steps = parse_steps([{"kind": "select", "columns": ["x"]}])
    wanted = required_columns(steps, await read_columns(store, "in", "parquet"))
    chunks = await read_all(store, "in", DataFormat.PARQUET, chunk_rows=4, columns=wanted)
    assert [list(c.frame.columns) for c in chunks] == [["x"], ["x"]]


async def test_csv_types_are_inferred_per_chunk(store: LocalObjectStore) -> None:
    text = "a,b,c,d\n1,x,true,\n2,,False,\n3.5,z,TRUE,\n"
    await store.put("in/t.csv", once(text.encode()))
    first, second = await read_all(store, "in/t.csv", DataFormat.CSV, chunk_rows=2)
    assert first.frame["a"].tolist() == [1, 2]
    assert first.frame["a"].dtype == np.int64
    assert second.frame["a"].tolist() == [3.5]
    assert first.frame["b"].tolist()[0] == "x"
    assert pd.isna(first.frame["b"][1])
    assert first.frame["c"].tolist() == [True, False]
    assert first.frame["d"].isna().all()
    assert first.frame["d"].dtype == np.float64


# -- malformed rows -------------------------------------------------------------------------

BAD_CSV = b'id,x\n1,a\n2,b,extra\n3\n4,"multi\nline"\n5,e\n'
BAD_JSONL = b'{"id": 1}\n[1, 2]\n{"id": 2}\n{"id": \n\n{"id": 3, "x": "y"}\n'


@pytest.mark.parametrize(
    ("name", "data", "first_bad"),
    [
        ("bad.csv", BAD_CSV, "row 3 (the header is row 1): expected 2 fields, got 3"),
        ("bad.jsonl", BAD_JSONL, "line 2: not a JSON object"),
    ],
)
async def test_malformed_rows_fail_the_read_by_default(
    store: LocalObjectStore, name: str, data: bytes, first_bad: str
) -> None:
    await store.put(f"in/{name}", once(data))
    fmt = DataFormat.parse(name.rsplit(".", 1)[1])
    with pytest.raises(MalformedInput) as caught:
        await read_all(store, "in", fmt, chunk_rows=2)
    assert f"malformed row in input 'in/{name}' {first_bad}" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "data", "ids"),
    [("bad.csv", BAD_CSV, [1, 4, 5]), ("bad.jsonl", BAD_JSONL, [1, 2, 3])],
)
async def test_malformed_rows_are_skipped_and_counted(
    store: LocalObjectStore, name: str, data: bytes, ids: list[int]
) -> None:
    await store.put(f"in/{name}", once(data))
    fmt = DataFormat.parse(name.rsplit(".", 1)[1])
    report = ReadReport()
    chunks = await read_all(
        store, "in", fmt, chunk_rows=2, on_error="skip", max_skipped=2, report=report
    )
    assert joined(chunks)["id"].tolist() == ids
    assert report.skipped == 2
    assert sum(c.skipped for c in chunks) == 2
    assert len(report.examples) == 2
    assert report.rows == 3

    with pytest.raises(MalformedInput, match="too many malformed rows: more than max_skipped=1"):
        await read_all(store, "in", fmt, chunk_rows=2, on_error="skip", max_skipped=1)


async def test_files_without_structure_are_reported(store: LocalObjectStore) -> None:
    await store.put("empty/a.csv", once(b""))
    with pytest.raises(MalformedInput, match="has no CSV header row"):
        await read_all(store, "empty", DataFormat.CSV, chunk_rows=2)
    await store.put("dup/a.csv", once(b"a,b,a\n1,2,3\n"))
    with pytest.raises(MalformedInput, match="names column 'a' twice"):
        await read_all(store, "dup", DataFormat.CSV, chunk_rows=2)
    await store.put("pq/a.parquet", once(b"not parquet at all"))
    with pytest.raises(MalformedInput, match="not a valid Parquet file"):
        await read_all(store, "pq", DataFormat.PARQUET, chunk_rows=2)


# -- idempotent output ---------------------------------------------------------------------


async def write_run(store: LocalObjectStore, chunk_rows: int) -> dict[str, Any]:
    writer = OutputWriter(store, "out/run", "csv", id_column="id")
    async for chunk in iter_input(store, "in", "csv", chunk_rows):
        await writer.write(chunk, {"y": chunk.frame["x"].to_numpy() * 2})
    return await writer.finalize()


async def test_a_retried_run_rewrites_the_same_parts(store: LocalObjectStore) -> None:
    await store.put("in/a.csv", once(encode(sample(7), DataFormat.CSV)))
    first = await write_run(store, 3)
    again = await write_run(store, 3)
    assert again == first
    listed = [info.key for info in await store.list("out/run")]
    assert listed == [
        "out/run/_SUCCESS",
        "out/run/part-00000-000000.csv",
        "out/run/part-00000-000001.csv",
        "out/run/part-00000-000002.csv",
    ]
    rows = joined(await read_all(store, "out/run", DataFormat.CSV, chunk_rows=100))
    assert rows["id"].tolist() == list(range(7))  # no duplicates

    # Another chunk size: finalize removes the parts this run did not write.
    third = await write_run(store, 5)
    assert [p["rows"] for p in third["parts"]] == [5, 2]
    rows = joined(await read_all(store, "out/run", DataFormat.CSV, chunk_rows=100))
    assert rows["id"].tolist() == list(range(7))


async def test_a_rewrite_removes_the_old_manifest_first(store: LocalObjectStore) -> None:
    await store.put("in/a.csv", once(encode(sample(4), DataFormat.CSV)))
    await write_run(store, 2)
    writer = OutputWriter(store, "out/run", "csv")
    chunk = (await read_all(store, "in", DataFormat.CSV, chunk_rows=2))[0]
    await writer.write(chunk, {"y": np.zeros(2)})
    assert await store.head("out/run/_SUCCESS") is None  # incomplete until finalize
    await writer.adopt(ChunkPosition(0, 1), rows=2)  # resumed past chunk 1
    manifest = await writer.finalize()
    assert [p["rows"] for p in manifest["parts"]] == [2, 2]


async def test_writer_checks_outputs(store: LocalObjectStore) -> None:
    await store.put("in/a.csv", once(b"id,x\n1,2\n3,4\n"))
    chunk = (await read_all(store, "in", DataFormat.CSV, chunk_rows=10))[0]
    writer = OutputWriter(store, "out", "jsonl", id_column="key")
    with pytest.raises(ValueError, match="output 'y' has 3 rows; the chunk has 2 rows"):
        await writer.write(chunk, {"y": np.zeros(3)})
    with pytest.raises(MissingColumns, match="no column 'key'"):
        await writer.write(chunk, {"y": np.zeros(2)})
    with pytest.raises(ValueError, match="must not be empty"):
        OutputWriter(store, "", "csv")


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("data/in", "data/in/", "is the input location"),
        ("S3://bucket/data", "s3://bucket/data/", "is the input location"),
        ("data/in", "data/in/out", "inside the input location"),
        ("data/in/x.csv", "data/in", "inside the output location"),
    ],
)
def test_check_locations_refuses_overlaps(source: str, target: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_locations(source, target)


def test_check_locations_accepts_siblings() -> None:
    check_locations("data/in", "data/input-predictions")
    check_locations("s3://a/data", "s3://b/data")


# -- memory ----------------------------------------------------------------------------------

MEMORY_SCRIPT = """
import asyncio, json, resource, sys, time
from pathlib import Path
import numpy as np
from app.adapters.object_store.local import LocalObjectStore
from app.batch.io import OutputWriter, iter_input
from app.batch.steps import apply_steps, parse_steps

def peak_mb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec, so
    # it would report the (large) pytest process instead of this one.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

async def main():
    store = LocalObjectStore(Path(sys.argv[1]))
    steps = parse_steps([{"kind": "standard_scale", "column": "c0", "mean": 0, "std": 2}])
    writer = OutputWriter(store, "out", "csv")
    rows = 0
    async for chunk in iter_input(store, "in/big.csv", "csv", 50_000):
        frame = apply_steps(steps, chunk.frame)
        await writer.write(chunk, {"y": frame.to_numpy(dtype=np.float32).sum(axis=1)})
        rows += chunk.rows
    manifest = await writer.finalize()
    return rows, manifest["rows"]

base = peak_mb()
started = time.perf_counter()
rows, written = asyncio.run(main())
print(json.dumps({"rows": rows, "written": written, "base_mb": base, "peak_mb": peak_mb(),
                  "seconds": time.perf_counter() - started}))
"""


def write_big_csv(path: Path, rows: int, columns: int = 20) -> None:
    """``rows`` rows of ``columns`` floats: one random block of 10,000 rows, repeated."""
    path.parent.mkdir(parents=True)
    rng = np.random.default_rng(7)
    block = pd.DataFrame(rng.normal(size=(10_000, columns)).round(5))
    text = block.to_csv(index=False, header=False)
    with path.open("w") as file:
        file.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        for _ in range(rows // 10_000):
            file.write(text)


def test_a_million_row_csv_is_processed_in_bounded_memory(tmp_path: Path) -> None:
    write_big_csv(tmp_path / "store" / "in" / "big.csv", 1_000_000)
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    print(f"1M x 20 CSV: {figures}")
    assert figures["rows"] == figures["written"] == 1_000_000
    assert figures["peak_mb"] < 500  # the budget; imports alone take ~140 MB
    assert figures["peak_mb"] - figures["base_mb"] < 250  # what the data path itself costs
