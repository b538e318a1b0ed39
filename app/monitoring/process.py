"""This process's CPU time and memory, through psutil."""

from __future__ import annotations

import os
import socket
import uuid

import psutil


def process_name() -> str:
    """Unique per server process (host, pid and a random part against pid reuse)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ProcessSampler:
    def __init__(self) -> None:
        self._process = psutil.Process()
        self._cpu = self.cpu_seconds()

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far (children excluded)."""
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def memory_bytes(self) -> int:
        """Resident set size."""
        return int(self._process.memory_info().rss)

    def cpu_since_last(self) -> float:
        """CPU seconds used since the previous call (or since start)."""
        now = self.cpu_seconds()
        used, self._cpu = max(now - self._cpu, 0.0), now
        return used
