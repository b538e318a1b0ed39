"""Bounded HTTP load: N keep-alive clients sharing a fixed number of requests, and
sequential latency sampling. The same code drives modelrepo and the peer."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from _http import Client, make_client

# One request: (client, worker index, request index) -> succeeded?
Call = Callable[[Client, int, int], Awaitable[bool]]

# Which HTTP client drives the load (see _http): "lean" or "httpx"; the same for both peers.
CLIENT_KIND = ["lean"]


def client(base_url: str, headers: Mapping[str, str] | None = None) -> Client:
    """One connection, kept alive: what one sequential user of the API looks like."""
    return make_client(CLIENT_KIND[0], base_url, headers)


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile of ``samples`` (any order); NaN when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Run:
    requests: int = 0
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    first_error: str = ""
    timed_out: bool = False

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else math.nan

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


async def _workers(
    one: Callable[[int, int], Awaitable[bool]], *, clients: int, total: int, deadline_s: float
) -> Run:
    """``total`` calls of ``one(worker, index)`` shared by ``clients`` workers; stops early
    (``timed_out``) once ``deadline_s`` has passed."""
    run = Run()
    next_index = 0
    stop_at = time.monotonic() + deadline_s

    async def worker(w: int) -> None:
        nonlocal next_index
        while next_index < total:
            if time.monotonic() > stop_at:
                run.timed_out = True
                return
            index = next_index
            next_index += 1
            started = time.perf_counter()
            try:
                ok = await one(w, index)
            except Exception as exc:  # counted and shown, the run goes on
                ok = False
                run.first_error = run.first_error or f"{type(exc).__name__}: {exc}"
            run.latencies_ms.append((time.perf_counter() - started) * 1000)
            run.requests += 1
            if ok:
                run.ok += 1
            else:
                run.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    run.seconds = time.perf_counter() - started
    return run


async def drive(
    base_url: str,
    call: Call,
    *,
    clients: int,
    total: int,
    headers: Mapping[str, str] | None = None,
    deadline_s: float = 120.0,
) -> Run:
    """``total`` requests shared by ``clients`` workers, each with its own connection."""
    pool = [client(base_url, headers) for _ in range(clients)]
    try:
        # Open every connection first so the timing holds requests only.
        await asyncio.gather(*(_warm(http) for http in pool))
        return await _workers(
            lambda w, i: call(pool[w], w, i), clients=clients, total=total, deadline_s=deadline_s
        )
    finally:
        await asyncio.gather(*(http.aclose() for http in pool))


async def drive_local(
    one: Callable[[int, int], Awaitable[bool]],
    *,
    clients: int,
    total: int,
    deadline_s: float = 120.0,
) -> Run:
    """Like :func:`drive` for in-process calls ``one(worker, index)``."""
    return await _workers(one, clients=clients, total=total, deadline_s=deadline_s)


async def _warm(http: Client) -> None:
    with contextlib.suppress(Exception):  # any answer will do: the connection is open
        await http.get("/")


async def sample(
    base_url: str,
    call: Call,
    *,
    requests: int,
    warmup: int,
    headers: Mapping[str, str] | None = None,
    deadline_s: float = 120.0,
) -> Run:
    """Sequential latency of one client: ``warmup`` unrecorded calls, then ``requests``."""
    async with client(base_url, headers) as http:
        for i in range(warmup):
            await call(http, 0, -1 - i)
    return await drive(
        base_url, call, clients=1, total=requests, headers=headers, deadline_s=deadline_s
    )
