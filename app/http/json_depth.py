"""How deeply a decoded JSON value nests, checked without recursion.

Python's ``json`` decoder and graphql-core's coercion of variables both recurse once per
level: a body of ten thousand ``[`` raises RecursionError (an internal error, 500) and a
few hundred levels cost every step that walks the value. A request nested deeper than the
limit is refused instead, with a reason.
"""

from __future__ import annotations


def too_deep_reason(limit: int) -> str:
    return f"JSON nested more than {limit} levels deep"


def nested_deeper(value: object, limit: int) -> bool:
    """Whether ``value`` (lists and dicts of anything) nests more than ``limit`` levels:
    ``[]`` and ``{}`` are one level, ``[[1]]`` two, a scalar none."""
    if not isinstance(value, list | dict):
        return False
    stack: list[tuple[list[object] | dict[object, object], int]] = [(value, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > limit:
            return True
        for item in container.values() if isinstance(container, dict) else container:
            if isinstance(item, list | dict):
                stack.append((item, depth + 1))
    return False
