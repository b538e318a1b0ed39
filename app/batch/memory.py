"""Keeping a batch run's memory flat: chunk after chunk allocates and frees similar
buffers, and allocators that keep freed memory for reuse (Arrow's default mimalloc pool,
glibc's arenas) let RSS creep up by hundreds of MB over a long input. Runs use Arrow's
system pool and hand freed memory back to the OS after every chunk (measured on 1M rows x
20 columns of Parquet: 419 MB peak before, 290 MB after, no slower)."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

import pyarrow as pa


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc
        return None
    return trim


_TRIM = _malloc_trim()


def use_system_pool() -> None:
    """Arrow allocates through malloc (once per process; idempotent)."""
    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def release_memory() -> None:
    """Give freed memory back to the OS (between chunks)."""
    pa.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)
