"""The in-process peer: a plain script that does what a batch run does, with nothing
around it. It downloads the input object from S3 to a temporary file, reads it in chunks
(pyarrow batches for Parquet, pandas for CSV), runs onnxruntime on each chunk and puts one
output object per chunk (id + prediction, same format) back into S3.

    python _batch_baseline.py ENDPOINT BUCKET KEY FORMAT MODEL OUT_PREFIX CHUNK_ROWS

Prints one JSON line: seconds (download to last put), rows, peak_rss (VmHWM, bytes).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from collections.abc import Iterator

import boto3
import numpy as np
import onnxruntime as ort
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from _files_procs import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from botocore.config import Config


def chunks(path: str, fmt: str, rows: int) -> Iterator[pd.DataFrame]:
    if fmt == "parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield batch.to_pandas()
    else:
        yield from pd.read_csv(path, chunksize=rows)


def encode(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "parquet":
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
        return buffer.getvalue()
    return frame.to_csv(index=False).encode()


def main() -> None:
    endpoint, bucket, key, fmt, model, out_prefix, chunk_rows = sys.argv[1:8]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # as modelrepo's ONNX runtime does
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    started = time.perf_counter()
    total = 0
    with tempfile.NamedTemporaryFile(suffix="." + fmt) as local:
        s3.download_fileobj(bucket, key, local)
        local.flush()
        for index, frame in enumerate(chunks(local.name, fmt, int(chunk_rows))):
            x = np.ascontiguousarray(frame.drop(columns=["id"]).to_numpy(dtype=np.float32))
            (y,) = session.run(None, {"x": x})
            out = pd.DataFrame({"id": frame["id"].to_numpy(), "y": y.reshape(-1)})
            s3.put_object(
                Bucket=bucket, Key=f"{out_prefix}/part-{index:06d}.{fmt}", Body=encode(out, fmt)
            )
            total += len(frame)
    seconds = time.perf_counter() - started
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "rows": total, "peak_rss": peak}))


if __name__ == "__main__":
    main()
