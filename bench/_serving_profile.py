"""py-spy on a running server: record collapsed stacks while a load run goes on, then
summarise them (samples per thread, hottest leaf frames, hottest frames anywhere on the
stack). Profiled runs are extra runs; their figures are not the reported ones."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from pathlib import Path

from _report import table

HERE = Path(__file__).resolve().parent
CANDIDATES = (HERE.parent / ".venv" / "bin" / "py-spy", HERE / ".venv-mlflow" / "bin" / "py-spy")


def py_spy() -> str | None:
    for candidate in CANDIDATES:
        if candidate.exists():
            return str(candidate)
    return shutil.which("py-spy")


async def start(pid: int, seconds: float, out: Path) -> asyncio.subprocess.Process:
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy not found: pip install py-spy")
    argv = [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    argv += ["--rate", "250", "--format", "raw", "--threads", "--function", "--nonblocking"]
    return await asyncio.create_subprocess_exec(
        *argv,
        "-o",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def _stacks(raw: Path) -> list[tuple[str, list[str], int]]:
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        thread, *frames = stack.split(";")
        # "thread (1234): MainThread" -> "MainThread"; other threads by their names.
        name = thread.split(": ", 1)[-1] if ": " in thread else thread
        stacks.append((name, frames, int(count)))
    return stacks


# Leaf frames that are waiting or inside C code that py-spy (without --native) cannot see.
LABELS = {
    "_worker (concurrent/futures/thread.py:69)": "  [thread pool worker waiting for work]",
    "Runner.run (asyncio/runners.py:86)": "  [uvloop C code: epoll, socket I/O, callbacks]",
    "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:463)": (
        "  [transport.write: send() syscall]"
    ),
}
# Frames worth showing inclusively: modelrepo's own and the libraries it calls per request.
MARKS = ("app/", "onnxruntime", "json/", "numpy/", "asyncio/threads", "futures/thread")
ROOTS = ("app/cli.py", "app/server.py")  # under every sample of the main thread


def summary(raw: Path, top: int = 15) -> str:
    stacks = _stacks(raw)
    total = sum(count for _, _, count in stacks)
    if not total:
        return f"(no samples in {raw})"
    threads: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for thread, frames, count in stacks:
        threads["main (event loop)" if thread == "MainThread" else "other threads"] += count
        if frames:
            leaves[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    mine = Counter(
        {
            frame: n
            for frame, n in inclusive.items()
            if any(m in frame for m in MARKS) and not any(r in frame for r in ROOTS)
        }
    )

    def share(n: int) -> str:
        return f"{100 * n / total:.1f}%"

    parts = [
        f"{total} non-idle samples at 250 Hz; samples by thread: "
        + ", ".join(f"{name} {share(n)}" for name, n in threads.most_common()),
        "",
        table(
            ["hottest leaf frames (self time)", "share"],
            [[frame + LABELS.get(frame, ""), share(n)] for frame, n in leaves.most_common(top)],
        ),
        "",
        table(
            ["modelrepo's and per-request library frames, inclusive", "share"],
            [[frame, share(n)] for frame, n in mine.most_common(top * 2)],
        ),
    ]
    return "\n".join(parts)
