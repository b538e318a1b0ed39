"""Optional py-spy sampling of the server during one extra (unmeasured) import, with a
short summary of where the active threads spent their samples."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType

RATE = 100
# Leaf frames of threads that are waiting, not working (py-spy cannot always tell).
IDLE_LEAVES = frozenset(
    {
        "_worker (concurrent/futures/thread.py)",  # a pool thread waiting for work
        "Condition.wait (threading.py)",
        "_connection_worker_thread (aiosqlite/core.py)",
    }
)


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recording:
    """``with Recording(pid, out):`` samples ``pid`` (no idle threads, no line numbers)
    into ``out`` in py-spy's raw (collapsed stacks) format."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid = pid
        self.out = out
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Recording:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        argv = [exe, "record", "--pid", str(self.pid), "--rate", str(RATE), "--format", "raw"]
        argv += ["--nolineno", "--output", str(self.out)]
        log = self.out.with_suffix(".log").open("wb")
        with log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def summarize(raw: Path, top: int = 14) -> list[str]:
    """Self samples per function, and inclusive samples of the project's own functions."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames or frames[-1] in IDLE_LEAVES:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if "(app/" in frame or "(domain/" in frame or "(projections/" in frame:
                inclusive[frame] += count
    if not total:
        return ["  (no samples)"]
    lines = [
        f"  {total} samples of working threads at {RATE} Hz ({total / RATE:.1f} thread-s);"
        " Runner.run = the C event loop (uvloop): socket I/O and waits"
    ]
    lines.append("  self time:")
    lines += [f"    {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines.append("  inclusive, project code:")
    lines += [f"    {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return lines
