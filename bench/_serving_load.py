"""Driving a server with the load generator (``_serving_client.py`` in its own process, or
``wrk``), with the server's CPU read from /proc over the same window."""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from _procs import TICK, Server, stat_fields
from _serving_client import Result

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "_serving_client.py"

# wrk keeps a histogram corrected for coordinated omission (it adds synthetic samples for
# slow answers), so its percentiles and tail share are not the raw ones: reported as is.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{headers}
function done(summary, latency, requests)
  local over, n = 0, 0
  for i = 1, #latency do
    local v, c = latency(i)
    n = n + c
    if v > 35000 then over = over + c end
  end
  io.write(string.format("WRK %d %d %d %d %f %f %f %f %d %d\\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max, over, n))
end
"""


@dataclass
class Measured:
    result: Result
    server_cpu: float  # share of one core, over the run
    client: str

    @property
    def client_cpu(self) -> float:
        r = self.result
        return r.client_cpu_s / r.seconds if r.seconds > 0 else math.nan


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) of the live processes in process group ``pgid``."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = stat_fields(entry.name)
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / TICK


async def measure(
    server: Server,
    path: str,
    body_file: Path,
    *,
    connections: int,
    seconds: float,
    headers: tuple[str, ...] = (),
    max_requests: int = 2_000_000,
    client: str = "python",
) -> Measured:
    """One bounded run against ``server.base_url + path``; the server's process group is
    its leader's pid (it was started in its own session)."""
    url = server.base_url + path
    pgid = server.proc.pid
    before = group_cpu_seconds(pgid)
    if client == "wrk":
        result = await _wrk(url, body_file, headers, connections, seconds)
    else:
        result = await _python(url, body_file, headers, connections, seconds, max_requests)
    cpu = group_cpu_seconds(pgid) - before
    return Measured(result, cpu / result.seconds if result.seconds > 0 else math.nan, client)


async def _run(argv: list[str], limit_s: float) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{argv[0]} did not finish within {limit_s:.0f} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed ({proc.returncode}):\n{err.decode()}")
    return out.decode()


async def _python(
    url: str,
    body_file: Path,
    headers: tuple[str, ...],
    connections: int,
    seconds: float,
    max_requests: int,
) -> Result:
    argv = [sys.executable, str(CLIENT), "--url", url, "--body-file", str(body_file)]
    argv += ["--connections", str(connections), "--seconds", str(seconds)]
    argv += ["--max-requests", str(max_requests)]
    for header in headers:
        argv += ["--header", header]
    out = await _run(argv, seconds + 120)
    data = json.loads(out.strip().splitlines()[-1])
    return Result(**{f.name: data[f.name] for f in fields(Result)})


async def _wrk(
    url: str, body_file: Path, headers: tuple[str, ...], connections: int, seconds: float
) -> Result:
    script = _wrk_script(body_file, headers)
    before = _children_cpu()
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
    out = await _run([*argv, "-s", str(script), url], seconds + 120)
    cpu = _children_cpu() - before
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    requests, duration_us, non2xx, socket_errors, p50, p99, mean, peak, over, counted = (
        float(v) for v in line.split()[1:]
    )
    elapsed = duration_us / 1e6
    ok = int(requests - non2xx)
    errors = int(non2xx + socket_errors)
    return Result(
        connections=connections,
        requests=int(requests),
        ok=ok,
        errors=errors,
        seconds=elapsed,
        rate=ok / elapsed,
        p50_ms=p50 / 1000,
        p99_ms=p99 / 1000,
        mean_ms=mean / 1000,
        max_ms=peak / 1000,
        over_35ms=over / counted if counted else math.nan,
        client_cpu_s=cpu,
        first_error=f"{errors} errors (wrk)" if errors else "",
    )


def _wrk_script(body_file: Path, headers: tuple[str, ...]) -> Path:
    lines = []
    for header in headers:
        name, _, value = header.partition(":")
        lines.append(f"wrk.headers[{json.dumps(name.strip())}] = {json.dumps(value.strip())}")
    script = body_file.with_suffix(".lua")
    text = WRK_SCRIPT.replace("{body}", body_file.read_text())
    script.write_text(text.replace("{headers}", "\n".join(lines)))
    return script


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
