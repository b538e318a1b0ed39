"""The load generator of the serving benchmark, run as its own process so its CPU shows
apart from the server's: N keep-alive HTTP/1.1 connections, each sending the same POST
again as soon as the previous answer has fully arrived (closed loop, no pipelining),
for a bounded time and a bounded number of requests.

It is a bare asyncio Protocol on uvloop with a pre-encoded request and a minimal response
parser (status line + Content-Length), a few microseconds per request, so the client
leaves the CPU to the server; every request's latency is kept (no histogram buckets, no
coordinated-omission synthesis), so p50, p99 and the share over 35 ms are exact.

    python _serving_client.py --url http://127.0.0.1:P/path --body-file F \
        [--header 'Authorization: key'] --connections 16 --seconds 15 [--max-requests N]

prints one JSON line (see ``Result``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import resource
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

STALL_MS = 35.0
_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


@dataclass
class Result:
    connections: int
    requests: int
    ok: int
    errors: int
    seconds: float
    rate: float  # successful requests per second
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    over_35ms: float  # share of requests slower than STALL_MS
    client_cpu_s: float
    first_error: str


class _Shared:
    def __init__(self, request: bytes, stop_at: float, max_requests: int) -> None:
        self.request = request
        self.stop_at = stop_at
        self.left = max_requests
        self.latencies: list[float] = []
        self.ok = 0
        self.errors = 0
        self.first_error = ""


class _Connection(asyncio.Protocol):
    def __init__(self, shared: _Shared, done: asyncio.Future[None]) -> None:
        self.shared = shared
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.started = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def send(self) -> None:
        shared = self.shared
        if shared.left <= 0 or time.perf_counter() >= shared.stop_at or self.transport is None:
            self._finish()
            return
        shared.left -= 1
        self.started = time.perf_counter()
        self.transport.write(shared.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        match = _LENGTH.search(self.buffer, 0, end + 2)
        if match is None:
            self._fail("response without Content-Length (chunked answers are not parsed)")
            return
        size = end + 4 + int(match[1])
        if len(self.buffer) < size:
            return
        elapsed = time.perf_counter() - self.started
        shared = self.shared
        shared.latencies.append(elapsed * 1000)
        if self.buffer.startswith(b"200", 9):
            shared.ok += 1
        else:
            shared.errors += 1
            answer = bytes(self.buffer[:size]).decode("latin-1")
            shared.first_error = shared.first_error or f"{answer[:300]!r}"
        del self.buffer[:size]
        self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self._fail(f"connection lost: {exc or 'closed by the server'}")

    def _fail(self, message: str) -> None:
        self.shared.errors += 1
        self.shared.first_error = self.shared.first_error or message
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def build_request(url: str, body: bytes, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [
        f"POST {parts.path or '/'} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def run(
    url: str, body: bytes, headers: list[str], connections: int, seconds: float, max_requests: int
) -> Result:
    host, port, request = build_request(url, body, headers)
    loop = asyncio.get_running_loop()
    shared = _Shared(request, math.inf, max_requests)
    protocols: list[_Connection] = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        _, protocol = await loop.create_connection(partial(_Connection, shared, done), host, port)
        protocols.append(protocol)
    cpu_before = _cpu()
    began = time.perf_counter()
    shared.stop_at = began + seconds
    for protocol in protocols:
        protocol.send()
    try:
        await asyncio.wait_for(asyncio.gather(*(p.done for p in protocols)), timeout=seconds + 60)
    except TimeoutError:
        shared.first_error = shared.first_error or "requests still pending 60 s after the end"
    elapsed = time.perf_counter() - began
    cpu = _cpu() - cpu_before
    for protocol in protocols:
        if protocol.transport is not None:
            protocol.transport.close()
    ordered = sorted(shared.latencies)
    return Result(
        connections=connections,
        requests=len(ordered),
        ok=shared.ok,
        errors=shared.errors,
        seconds=elapsed,
        rate=shared.ok / elapsed if elapsed > 0 else math.nan,
        p50_ms=_percentile(ordered, 50),
        p99_ms=_percentile(ordered, 99),
        mean_ms=sum(ordered) / len(ordered) if ordered else math.nan,
        max_ms=ordered[-1] if ordered else math.nan,
        over_35ms=sum(1 for v in ordered if v > STALL_MS) / len(ordered) if ordered else math.nan,
        client_cpu_s=cpu,
        first_error=shared.first_error,
    )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True, type=Path)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    args = parser.parse_args()
    runner = asyncio.run
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # plain asyncio works too, with more client CPU per request
        pass
    result = runner(
        run(
            args.url,
            args.body_file.read_bytes(),
            args.header,
            args.connections,
            args.seconds,
            args.max_requests,
        )
    )
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
