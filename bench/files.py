"""Model file import benchmark: modelrepo against a raw aioboto3 copy of the same bytes.

Prints figures and ratios; asserts nothing. Run from the project root:

    .venv/bin/python bench/files.py                # 200 MB package, 3 repeats
    .venv/bin/python bench/files.py --quick        # 20 MB, 1 repeat
    .venv/bin/python bench/files.py --py-spy DIR   # also profile one extra import of each kind

Measures, with ``modelrepo serve`` and moto's S3 server (tests/integration/s3_server.py) as
real processes on 127.0.0.1:
  1. import of an ONNX package (``model.onnx`` + ~200 MB external data ``weights.bin``) in
     MB/s: by upload (a GraphQL multipart request whose body streams from disk, the package
     as a ZIP_STORED zip) and from ``s3://bucket/prefix``; with the repository's storage on
     the local disk (default) and on S3 (``MODELREPO_STORAGE_URL=s3://…``).
  2. the peer: a raw aioboto3 copy of the same objects on the same endpoint (get_object
     streamed into a multipart upload), run beside each S3 import (alternating order) and
     on its own; server-side copy_object and a raw aioboto3 upload of the zip from disk for
     reference; the ratio modelrepo / raw copy beside it (target >= 0.7).
  3. the server's peak RSS (VmHWM, reset before each import) against the package size, and
     the CPU seconds the server and moto spent per import.
  4. the latency of a small single-file model, uploaded and imported from S3, and the
     server's RSS across those imports.

MB = 2^20 bytes throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import _files_gql as gql
import _files_s3 as raw
from _files_package import Package, build_package, build_small_model
from _files_procs import (
    Modelrepo,
    ProcWatch,
    S3Server,
    modelrepo_server,
    moto_pid,
    server_env,
)
from _files_profile import Recording, summarize

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

MIB = 1024 * 1024
SOURCE_BUCKET = "bench-source"
REPO_BUCKET = "bench-repo"
PEER_BUCKET = "bench-peer"
SOURCE_PREFIX = "package"
SMALL_PREFIX = "small"
TARGET_RATIO = 0.7
PEER = "raw streamed copy (get -> multipart)"
CONFIGS = (("local storage", ""), ("S3 storage", f"s3://{REPO_BUCKET}/repo"))


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    nbytes: int
    server_cpu: float | None = None  # CPU seconds of the modelrepo process
    moto_cpu: float | None = None  # CPU seconds of the S3 server
    client_cpu: float | None = None  # CPU seconds of this process (the raw peer)
    peak_rss: int | None = None  # the server's VmHWM during the import
    base_rss: int | None = None  # the server's RSS just before
    body_seconds: float | None = None  # uploads: until the last body byte was sent

    @property
    def mbps(self) -> float:
        return self.nbytes / MIB / self.seconds


@dataclass
class Results:
    package_size: int
    rows: dict[str, list[Run]] = field(default_factory=dict)

    def add(self, label: str, run: Run) -> None:
        self.rows.setdefault(label, []).append(run)
        print(f"  {label:<40} run {len(self.rows[label])}: {describe(run)}", flush=True)

    def median_mbps(self, label: str) -> float | None:
        runs = self.rows.get(label)
        return statistics.median(r.mbps for r in runs) if runs else None


def load_average() -> str:
    """Other work on the machine skews every figure here; say how busy it was."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min)"


def mb(nbytes: float) -> str:
    return f"{nbytes / MIB:.1f} MB"


def describe(run: Run) -> str:
    parts = [f"{run.seconds:7.2f} s {run.mbps:7.1f} MB/s"]
    if run.body_seconds is not None:
        parts.append(f"body sent at {run.body_seconds:.2f} s")
    if run.peak_rss is not None and run.base_rss is not None:
        grown = run.peak_rss - run.base_rss
        parts.append(f"server peak RSS {mb(run.peak_rss)} (+{mb(grown)})")
    cpu = [
        f"{who} {seconds:.1f}"
        for who, seconds in (
            ("server", run.server_cpu),
            ("client", run.client_cpu),
            ("moto", run.moto_cpu),
        )
        if seconds is not None
    ]
    if cpu:
        parts.append("CPU s: " + " ".join(cpu))
    return " | ".join(parts)


# -- measuring ---------------------------------------------------------------------------


async def server_run(
    server: Modelrepo, moto: ProcWatch, nbytes: int, action: Callable[[], Awaitable[gql.Timed]]
) -> Run:
    """Run one import against ``server`` with its peak RSS reset first."""
    watch = server.watch
    base_rss = watch.rss()
    peak_ok = watch.reset_peak()
    cpu, moto_cpu = watch.cpu_seconds(), moto.cpu_seconds()
    timed = await action()
    if timed.size != nbytes:
        raise gql.ImportRefused(f"the version has {timed.size} bytes, expected {nbytes}")
    return Run(
        seconds=timed.seconds,
        nbytes=nbytes,
        server_cpu=watch.cpu_seconds() - cpu,
        moto_cpu=moto.cpu_seconds() - moto_cpu,
        peak_rss=watch.peak_rss() if peak_ok else None,
        base_rss=base_rss,
        body_seconds=timed.body_seconds,
    )


async def peer_run(moto: ProcWatch, action: Callable[[], Awaitable[int]]) -> Run:
    cpu, moto_cpu = time.process_time(), moto.cpu_seconds()
    start = time.perf_counter()
    nbytes = await action()
    seconds = time.perf_counter() - start
    return Run(
        seconds=seconds,
        nbytes=nbytes,
        client_cpu=time.process_time() - cpu,
        moto_cpu=moto.cpu_seconds() - moto_cpu,
    )


# -- the parts of the benchmark ----------------------------------------------------------


def source_keys(package: Package) -> list[str]:
    return [f"{SOURCE_PREFIX}/{name}" for name in package.files]


def raw_copy(client: S3Client, package: Package, prefix: str) -> Callable[[], Awaitable[int]]:
    """The peer: the package's source objects streamed through this process into
    ``REPO_BUCKET/prefix`` (callers delete the copy, so moto's memory stays level)."""

    async def copy() -> int:
        keys = source_keys(package)
        return await raw.streamed_copy(client, SOURCE_BUCKET, keys, REPO_BUCKET, prefix)

    return copy


async def put_sources(
    client: S3Client, moto: ProcWatch, package: Package, small: Path, results: Results
) -> None:
    for bucket in (SOURCE_BUCKET, REPO_BUCKET, PEER_BUCKET):
        await client.create_bucket(Bucket=bucket)
    small_key = f"{SMALL_PREFIX}/{small.name}"
    await raw.multipart_put(client, SOURCE_BUCKET, small_key, raw.read_file(small))

    async def put_package() -> int:
        total = 0
        for name in package.files:
            chunks = raw.read_file(package.folder / name)
            key = f"{SOURCE_PREFIX}/{name}"
            total += await raw.multipart_put(client, SOURCE_BUCKET, key, chunks)
        return total

    print("references (this process as the client):")
    results.add("put source objects (raw, from disk)", await peer_run(moto, put_package))
    # Unmeasured warm-up: connections, moto's code paths, the page cache.
    await raw_copy(client, package, "warm-up")()
    await raw.delete_prefix(client, REPO_BUCKET, "warm-up")


async def peers(
    client: S3Client, moto: ProcWatch, package: Package, results: Results, repeat: int
) -> None:
    copy_path = package.archive.with_name("copy.zip")

    async def disk_copy() -> int:
        await asyncio.to_thread(shutil.copyfile, package.archive, copy_path)
        size = await asyncio.to_thread(os.path.getsize, copy_path)
        await asyncio.to_thread(copy_path.unlink)
        return size

    for _ in range(repeat):
        results.add("disk copy of the zip (page cache)", await peer_run(moto, disk_copy))
    for i in range(repeat):

        async def upload_zip(key: str = f"upload-{i}/package.zip") -> int:
            chunks = raw.read_file(package.archive)
            return await raw.multipart_put(client, PEER_BUCKET, key, chunks)

        results.add("raw upload of the zip from disk", await peer_run(moto, upload_zip))
        await raw.delete_prefix(client, PEER_BUCKET, f"upload-{i}")
    for i in range(repeat):
        run = await peer_run(moto, raw_copy(client, package, f"copy-{i}"))
        results.add(PEER, run)
        await raw.delete_prefix(client, REPO_BUCKET, f"copy-{i}")
    for i in range(repeat):

        async def server_copy(prefix: str = f"server-copy-{i}") -> int:
            await raw.server_copy(client, SOURCE_BUCKET, source_keys(package), REPO_BUCKET, prefix)
            return package.size

        results.add("server-side copy_object", await peer_run(moto, server_copy))
        await raw.delete_prefix(client, REPO_BUCKET, f"server-copy-{i}")


async def modelrepo_runs(
    s3: S3Server,
    client: S3Client,
    package: Package,
    small: Path,
    results: Results,
    args: argparse.Namespace,
    work: Path,
) -> None:
    moto = ProcWatch(moto_pid(s3))
    for config, storage_url in CONFIGS:
        slug = "local" if not storage_url else "s3"
        data_dir = work / f"data-{slug}"
        env = server_env(data_dir, s3.endpoint_url, storage_url)
        print(f"modelrepo, {config} ({storage_url or data_dir / 'objects'}):", flush=True)
        async with modelrepo_server(env, work / f"modelrepo-{slug}.log") as server:
            bench = _Against(server, moto, package, slug)
            await bench.small_imports(small, config, args.latency_runs)
            for i in range(args.repeat):
                results.add(f"upload, {config}", await bench.measure(bench.upload(f"up-{i}")))
            # Each S3 import is paired with a raw copy on the same moto state, in
            # alternating order, so that drift in moto (its heap grows) hits both alike.
            for i in range(args.repeat):
                modelrepo_first = i % 2 == 1
                if modelrepo_first:
                    run = await bench.measure(bench.import_uri(f"s3-{i}"))
                    results.add(f"S3 import, {config}", run)
                prefix = f"paired-{slug}-{i}"
                results.add(paired(config), await peer_run(moto, raw_copy(client, package, prefix)))
                await raw.delete_prefix(client, REPO_BUCKET, prefix)
                if not modelrepo_first:
                    run = await bench.measure(bench.import_uri(f"s3-{i}"))
                    results.add(f"S3 import, {config}", run)
            if args.py_spy is not None:
                await bench.profile(args.py_spy)


def paired(config: str) -> str:
    return f"raw copy beside S3 import, {config}"


@dataclass(frozen=True, slots=True)
class _Against:
    """The imports against one running modelrepo."""

    server: Modelrepo
    moto: ProcWatch
    package: Package
    slug: str

    def upload(self, name: str) -> Callable[[], Awaitable[gql.Timed]]:
        base, token, archive = self.server.base_url, self.server.token, self.package.archive
        return lambda: gql.upload(base, token, archive, f"{name}-{self.slug}")

    def import_uri(self, name: str) -> Callable[[], Awaitable[gql.Timed]]:
        base, token = self.server.base_url, self.server.token
        uri = f"s3://{SOURCE_BUCKET}/{SOURCE_PREFIX}"
        return lambda: gql.import_uri(base, token, uri, f"{name}-{self.slug}")

    async def measure(self, action: Callable[[], Awaitable[gql.Timed]]) -> Run:
        return await server_run(self.server, self.moto, self.package.size, action)

    async def small_imports(self, small: Path, config: str, runs: int) -> None:
        """Latency of a small single-file model, uploaded and imported from S3 (first call
        apart: it loads the ONNX checker), and the server's RSS across the S3 imports."""
        base, token = self.server.base_url, self.server.token
        uri = f"s3://{SOURCE_BUCKET}/{SMALL_PREFIX}"
        kinds: tuple[tuple[str, Callable[[str], Awaitable[gql.Timed]]], ...] = (
            ("upload", lambda name: gql.upload(base, token, small, name)),
            ("S3 import", lambda name: gql.import_uri(base, token, uri, name)),
        )
        for kind, call in kinds:
            rss_before = self.server.watch.rss()
            start = time.perf_counter()
            timed = await call(f"small-{kind[:2]}-cold-{self.slug}")
            first = time.perf_counter() - start
            latencies = [
                (await call(f"small-{kind[:2]}-{i}-{self.slug}")).seconds for i in range(runs)
            ]
            rss_after = self.server.watch.rss()
            print(
                f"  small {kind} ({timed.size / 1024:.0f} KB), {config}: first "
                f"{first * 1000:.0f} ms, then p50 {statistics.median(latencies) * 1000:.0f} ms,"
                f" max {max(latencies) * 1000:.0f} ms over {len(latencies)}; server RSS "
                f"{mb(rss_before)} -> {mb(rss_after)}",
                flush=True,
            )

    async def profile(self, out_dir: Path) -> None:
        await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
        kinds = (("upload", self.upload), ("s3import", self.import_uri))
        for kind, make in kinds:
            out = out_dir / f"{kind}-{self.slug}.txt"
            with Recording(self.server.proc.pid, out):
                await asyncio.sleep(0.5)  # let py-spy attach
                timed = await make(f"profiled-{kind}")()
            print(f"  py-spy, {kind} ({timed.seconds:.1f} s, not counted): {out}")
            for line in await asyncio.to_thread(summarize, out):
                print("  " + line)


def summary(results: Results) -> None:
    size = results.package_size
    print()
    print(f"== summary: medians; package {mb(size)}; MB = 2^20 bytes ==")
    print(f"  {'':<40} {'MB/s':>8} {'server peak RSS':>16} {'growth':>9} {'of package':>11}")
    for label, runs in results.rows.items():
        line = f"  {label:<40} {statistics.median(r.mbps for r in runs):>8.1f}"
        measured = [r for r in runs if r.peak_rss is not None and r.base_rss is not None]
        if measured:
            peak = max(r.peak_rss or 0 for r in measured)
            growth = max((r.peak_rss or 0) - (r.base_rss or 0) for r in measured)
            line += f" {mb(peak):>16} {mb(growth):>9} {growth / size:>11.1%}"
        print(line)
    peer = results.median_mbps(PEER)
    raw_upload = results.median_mbps("raw upload of the zip from disk")
    print("  ratios (medians):")
    for config, _ in CONFIGS:
        got = results.median_mbps(f"S3 import, {config}")
        beside = results.median_mbps(paired(config))
        if got is None or not beside or not peer:
            continue
        mark = "ok" if got / beside >= TARGET_RATIO else "BELOW TARGET"
        print(
            f"    S3 import, {config} / raw streamed copy beside it: {got / beside:.2f}"
            f" (target >= {TARGET_RATIO}: {mark}); / the earlier raw copies: {got / peer:.2f}"
        )
    for config, _ in CONFIGS:
        got = results.median_mbps(f"upload, {config}")
        if got is not None and raw_upload:
            print(
                f"    upload, {config} / raw upload of the zip to S3: {got / raw_upload:.2f}"
                " (reference, no target)"
            )
    peaks = [r.peak_rss for runs in results.rows.values() for r in runs if r.peak_rss]
    if peaks:
        print(
            f"    largest server peak RSS / package size: {max(peaks) / size:.1%}"
            " (absolute, including the idle server's RSS)"
        )


async def main_async(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    print(
        f"modelrepo file import benchmark: Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, package {args.size_mb:g} MB, {args.repeat} repeat(s); "
        f"{load_average()}",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="modelrepo-bench-files-"))
    try:
        start = time.perf_counter()
        package = await asyncio.to_thread(build_package, work / "build", args.size_mb)
        small = work / "small.onnx"
        build_small_model(small)
        files = ", ".join(f"{name} {mb(size)}" for name, size in package.files.items())
        print(
            f"built the package in {time.perf_counter() - start:.1f} s: {files}; "
            f"zip {mb(package.archive.stat().st_size)} (stored)",
            flush=True,
        )
        results = Results(package_size=package.size)
        s3 = S3Server.start(work / "moto.log")
        try:
            print(f"moto S3 server at {s3.endpoint_url} (pid {moto_pid(s3)})", flush=True)
            moto = ProcWatch(moto_pid(s3))
            async with raw.raw_client(s3.session, s3.endpoint_url) as client:
                await put_sources(client, moto, package, small, results)
                await peers(client, moto, package, results, args.repeat)
                await modelrepo_runs(s3, client, package, small, results, args, work)
        finally:
            s3.stop()
        summary(results)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"this process (client, peer) peak RSS {mb(own_peak)}")
    print(f"total {time.perf_counter() - began:.0f} s; {load_average()}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=200.0, help="package size (MiB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each large import")
    parser.add_argument(
        "--latency-runs", type=int, default=10, help="small uploads and S3 imports timed"
    )
    parser.add_argument("--quick", action="store_true", help="20 MB, 1 repeat, 5 small imports")
    parser.add_argument(
        "--py-spy", type=Path, metavar="DIR", help="profile one extra import of each kind"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mb, args.repeat, args.latency_runs = 20.0, 1, 5
    if args.size_mb <= 0 or args.repeat < 1 or args.latency_runs < 1:
        parser.error("--size-mb must be positive, --repeat and --latency-runs at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    asyncio.run(main_async(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
