"""Server paths taken out of messages that clients see.

Libraries name files by their full path: ``onnx.checker`` and onnxruntime name the model
file in the import's work folder or in the model cache, protobuf and ``OSError`` name
whatever they opened. Those paths tell a client where the data directory is and how the
server lays it out, so a message shown to a client names a file of the package by its
path relative to the package, and any other file of the server by its last part only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

# An absolute path: a slash that starts a word (not the slashes of a URL, a relative path
# or a fraction), up to a space, a quote, a bracket or punctuation that ends a clause.
_ABSOLUTE = re.compile(r"(?<![\w.:/~-])/[^\s'\"`,;:()<>\[\]{}|]+")


def without_paths(text: str, packages: Iterable[Path] = (), *, every_path: bool = False) -> str:
    """``text`` with the paths of files in ``packages`` folders replaced by their paths
    relative to the folder (the folder itself by "the package"). With ``every_path``, any
    other absolute path is replaced by its last part: for texts that only libraries and the
    server write, where a path is always one of the server's. Without it, other paths stay:
    a package check quotes what the package says (an ONNX model's ``/etc/passwd`` as the
    location of its weights)."""
    roots = [
        root
        for package in packages
        for root in dict.fromkeys((str(package), os.path.realpath(package)))
    ]

    def replace(match: re.Match[str]) -> str:
        path = match.group()
        end = len(path.rstrip("."))  # a full stop ends the sentence, not the path
        return _shown(path[:end], roots, every_path) + path[end:]

    return _ABSOLUTE.sub(replace, text)


def _shown(path: str, roots: list[str], every_path: bool) -> str:
    trimmed = path.rstrip("/") or path
    for root in roots:
        if trimmed == root:
            return "the package"
        if trimmed.startswith(root + "/"):
            return trimmed[len(root) + 1 :]
    if every_path:
        return trimmed.rsplit("/", 1)[-1] or trimmed
    return path
