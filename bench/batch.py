"""Batch benchmark: a run over 1M rows x 20 columns (CSV and Parquet in S3), through
``modelrepo worker``, against the same work as a plain in-process onnxruntime script and
against ``mlflow models predict``.

Prints figures and ratios; asserts nothing. Run from the project root:

    .venv/bin/python bench/batch.py                 # 1,000,000 rows
    .venv/bin/python bench/batch.py --rows 200000   # quicker
    .venv/bin/python bench/batch.py --no-mlflow     # without the MLflow peer

What is measured, per input format:
  - modelrepo: a job (id column copied, no steps) triggered over GraphQL; a separate
    ``modelrepo worker`` process runs it. Time: from the run turning RUNNING to COMPLETED
    (polled every 50 ms), which includes reading from S3, predicting and writing the output
    parts, progress events and the manifest. Peak RSS: the worker's VmHWM.
  - in-process peer (bench/_batch_baseline.py): download from the same S3 endpoint, read in
    chunks of the same size, onnxruntime (one thread, like modelrepo's runtime), one put
    per chunk. Time: first byte downloaded to last put. Peak RSS: its VmHWM.
  - MLflow (CSV only; it reads local files): ``mlflow models predict --env-manager local``
    on the features as a local CSV, JSON output. Its wall time includes starting MLflow;
    the same command on a 10-row file is timed too, and the difference is reported.

S3 is moto on 127.0.0.1 (tests/integration/s3_server.py), as in the other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
from _batch_data import Inputs, write_inputs
from _files_gql import upload
from _files_procs import (
    ACCESS_KEY_ID,
    MODELREPO,
    REGION,
    SECRET_ACCESS_KEY,
    ProcWatch,
    S3Server,
    _spawn,
    modelrepo_server,
    server_env,
    stop_group,
)
from _procs import ensure_venv

BENCH = Path(__file__).resolve().parent
BUCKET = "bench"
CHUNK_ROWS = 50_000
MIB = 1024 * 1024
FAR = "2100-01-01T00:00:00+00:00"

CREATE = """
mutation($input: BatchJobInput!) { createBatchJob(input: $input) {
  __typename ... on BatchJobPayload { job { id } } ... on Error { message } } }"""
TRIGGER = """
mutation($id: ID!) { triggerBatchJob(jobId: $id) {
  __typename ... on BatchRunPayload { run { id } } ... on Error { message } } }"""
RUNS = "query($id: ID!) { batchJob(id: $id) { runs(last: 1) { id status result reason } } }"
VERSION = 'query { model(name: "batch-bench") { versions { nodes { id } } } }'


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def put_inputs(endpoint: str, inputs: Inputs) -> None:
    client = s3_client(endpoint)
    client.create_bucket(Bucket=BUCKET)
    client.upload_file(str(inputs.csv), BUCKET, "in/data.csv")
    client.upload_file(str(inputs.parquet), BUCKET, "in/data.parquet")


async def gql(http: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"GraphQL: {response.status_code} {body}")
    data: dict[str, Any] = body["data"]
    return data


async def modelrepo_runs(
    work: Path, s3: S3Server, inputs: Inputs, formats: list[str]
) -> dict[str, Any]:
    env = server_env(Path(tempfile.mkdtemp(prefix="data-", dir=work)), s3.endpoint_url, "")
    env.update(MODELREPO_BATCH_WORKER="false", MODELREPO_BATCH_POLL_SECONDS="0.1")
    results: dict[str, Any] = {}
    async with modelrepo_server(env, work / "server.log") as server:
        await upload(server.base_url, server.token, inputs.model, "batch-bench")
        headers = {"Authorization": f"Bearer {server.token}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60) as http:
            version = (await gql(http, VERSION))["model"]["versions"]["nodes"][0]["id"]
            for fmt in formats:
                job_input = {
                    "name": f"bench-{fmt}",
                    "versionId": version,
                    "inputUri": f"s3://{BUCKET}/in/data.{fmt}",
                    "inputFormat": fmt.upper(),
                    "outputUri": f"s3://{BUCKET}/out-modelrepo-{fmt}",
                    "outputFormat": fmt.upper(),
                    "idColumn": "id",
                    "schedule": {"kind": "ONCE", "start": FAR},
                }
                created = (await gql(http, CREATE, input=job_input))["createBatchJob"]
                if "job" not in created:
                    raise RuntimeError(f"createBatchJob: {created}")
                results[fmt] = await _one_run(http, env, work, created["job"]["id"])
    return results


async def _one_run(
    http: httpx.AsyncClient, env: dict[str, str], work: Path, job_id: str
) -> dict[str, Any]:
    worker = _spawn([str(MODELREPO), "worker"], env, work / "worker.log")
    try:
        await asyncio.sleep(3)  # let it import and start polling
        watch = ProcWatch(worker.pid)
        idle = watch.rss()
        await gql(http, TRIGGER, id=job_id)
        started: float | None = None
        while True:
            (run,) = (await gql(http, RUNS, id=job_id))["batchJob"]["runs"]
            now = time.perf_counter()
            if run["status"] == "RUNNING" and started is None:
                started = now
            if run["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
                break
            if worker.poll() is not None:
                raise RuntimeError("the worker exited; see worker.log")
            await asyncio.sleep(0.05)
        if run["status"] != "COMPLETED":
            raise RuntimeError(f"run {run['status']}: {run['reason']}")
        peak = watch.peak_rss()
    finally:
        stop_group(worker)
    seconds = now - (started if started is not None else now)
    return {"seconds": seconds, "rows": run["result"]["rows"], "peak_rss": peak, "idle": idle}


def baseline(s3: S3Server, inputs: Inputs, fmt: str) -> dict[str, Any]:
    argv = [
        sys.executable,
        str(BENCH / "_batch_baseline.py"),
        s3.endpoint_url,
        BUCKET,
        f"in/data.{fmt}",
        fmt,
        str(inputs.model),
        f"out-inprocess-{fmt}",
        str(CHUNK_ROWS),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=BENCH)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def mlflow_predict(work: Path, inputs: Inputs) -> dict[str, Any]:
    python = ensure_venv(
        BENCH / ".venv-mlflow", ("mlflow", "psycopg2-binary", "onnx", "onnxruntime")
    )
    check = subprocess.run([str(python), "-c", "import onnx, onnxruntime"], check=False)
    if check.returncode != 0:
        pip = [str(python), "-m", "pip", "install", "--quiet", "onnx", "onnxruntime"]
        subprocess.run(pip, check=True)
    model_dir = work / "mlflow-model-columns"
    if not model_dir.exists():
        saved = subprocess.run(
            [str(python), str(BENCH / "_batch_mlflow_peer.py"), str(inputs.model), str(model_dir)],
            capture_output=True,
            text=True,
            check=True,
        )
        version = saved.stdout.strip().splitlines()[-1]
    else:
        version = "?"
    small = work / "features-10.csv"
    lines = inputs.features_csv.read_text().splitlines()[:11]
    small.write_text("\n".join(lines) + "\n")
    mlflow = str(python.parent / "mlflow")

    def timed(path: Path) -> tuple[float, int]:
        out = work / "mlflow-out.json"
        argv = [mlflow, "models", "predict", "-m", str(model_dir), "-i", str(path), "-t", "csv"]
        argv += ["-o", str(out), "--env-manager", "local"]
        probe = (
            "import resource, subprocess, sys, time; t = time.perf_counter();"
            " subprocess.run(sys.argv[1:], check=True, capture_output=True);"
            " print(time.perf_counter() - t,"
            " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, argv, stderr=done.stderr[-2000:])
        seconds, peak_kib = done.stdout.split()
        return float(seconds), int(peak_kib) * 1024

    startup, _ = timed(small)
    seconds, peak = timed(inputs.features_csv)
    return {
        "version": version,
        "seconds": seconds,
        "startup": startup,
        "rows": inputs.rows,
        "peak_rss": peak,
    }


def report(
    rows: int, ours: dict[str, Any], peers: dict[str, Any], mlflow: dict[str, Any] | None
) -> None:
    print(f"\n## Batch prediction: {rows:,} rows x 20 columns, chunks of {CHUNK_ROWS:,} rows")
    machine = f"{platform.platform()}, {os.cpu_count()} CPUs"
    print(f"machine: {machine}, Python {platform.python_version()}\n")
    print("| format | who | seconds | rows/s | peak RSS MB | modelrepo / peer (rows/s) |")
    print("|---|---|---:|---:|---:|---:|")
    for fmt, mine in ours.items():
        mine_rate = mine["rows"] / mine["seconds"]
        peak = mine["peak_rss"] / MIB
        figures = f"{mine['seconds']:.2f} | {mine_rate:,.0f} | {peak:.0f}"
        idle = mine["idle"] / MIB
        print(f"| {fmt} | modelrepo worker (idle: {idle:.0f} MB) | {figures} | |")
        peer = peers[fmt]
        rate = peer["rows"] / peer["seconds"]
        print(
            f"| {fmt} | in-process onnxruntime | {peer['seconds']:.2f} | {rate:,.0f} |"
            f" {peer['peak_rss'] / MIB:.0f} | {mine_rate / rate:.2f} |"
        )
        if fmt == "csv" and mlflow is not None:
            work_seconds = mlflow["seconds"] - mlflow["startup"]
            rate = mlflow["rows"] / work_seconds
            print(
                f"| csv | mlflow models predict {mlflow['version']}"
                f" (minus {mlflow['startup']:.1f} s start) | {work_seconds:.2f} | {rate:,.0f} |"
                f" {mlflow['peak_rss'] / MIB:.0f} |"
                f" {mine_rate / rate:.2f} |"
            )
    print("\nTargets: Parquet >= 0.6 of in-process rows/s; worker peak RSS under 500 MB.")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--formats", default="parquet,csv")
    parser.add_argument("--work", type=Path, help="keep inputs here between runs")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    formats = args.formats.split(",")
    print(f"inputs in {work} ...", flush=True)
    inputs = await asyncio.to_thread(write_inputs, work / "inputs", args.rows)
    s3 = S3Server.start(work / "moto.log")
    try:
        await asyncio.to_thread(put_inputs, s3.endpoint_url, inputs)
        print("modelrepo ...", flush=True)
        ours = await modelrepo_runs(work, s3, inputs, formats)
        print("in-process peer ...", flush=True)
        peers = {fmt: await asyncio.to_thread(baseline, s3, inputs, fmt) for fmt in formats}
    finally:
        s3.stop()
    mlflow = None
    if not args.no_mlflow and "csv" in formats:
        print("mlflow models predict ...", flush=True)
        try:
            mlflow = await asyncio.to_thread(mlflow_predict, work, inputs)
        except subprocess.CalledProcessError as exc:
            print(f"mlflow models predict failed: {exc.stderr or exc}", flush=True)
    report(args.rows, ours, peers, mlflow)


if __name__ == "__main__":
    asyncio.run(main())
