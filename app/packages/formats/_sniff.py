"""Naming a file's real kind from its first bytes, for messages that say what a file is."""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip file (a PyTorch or TorchScript file?)"),
    (b"\x80\x02", "a Python pickle"),
    (b"\x80\x03", "a Python pickle"),
    (b"\x80\x04", "a Python pickle"),
    (b"\x80\x05", "a Python pickle"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a Keras model?)"),
    (b"\x1f\x8b", "a gzip file"),
    (b"<?xml", "an XML file"),
    (b"\x93NUMPY", "a NumPy array"),
)


def describe(head: bytes) -> str | None:
    """What the file starting with ``head`` is, when it is a well-known other kind."""
    for magic, kind in _KINDS:
        if head.startswith(magic):
            return kind
    return None


def hint(head: bytes) -> str:
    """`` (it is …)`` for a well-known other kind of file, else ``""``."""
    kind = describe(head)
    return f" (it is {kind})" if kind else ""


@contextmanager
def mapped(path: Path) -> Iterator[memoryview]:
    """The file's bytes without reading them all into memory; the file must not be empty."""
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        view = memoryview(data)
        try:
            yield view
        finally:
            view.release()
