"""The schema's limits (app.graphql.schema.CachedLimits), asked twice: the second answer
comes from the caches and must be the same."""

from __future__ import annotations

import pytest

from app.graphql.schema import build_schema

SCHEMA = build_schema(max_depth=3, max_aliases=2, max_tokens=40)
DEEP = "{ models { edges { node { versions { edges { node { id } } } } } } }"
ALIASES = "{ a: me { name } b: me { name } c: me { name } }"
TOKENS = "{ " + " ".join(f"a{i}: me {{ name }}" for i in range(20)) + " }"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (TOKENS, "Syntax Error: Document contains more than 40 tokens. Parsing aborted."),
        ("{ me { name ", "Syntax Error: Expected Name, found <EOF>."),
        (ALIASES, "3 aliases found. Allowed: 2"),
        (DEEP, "'anonymous' exceeds maximum operation depth of 3"),
        ("{ nope }", "Cannot query field 'nope' on type 'Query'."),
    ],
)
async def test_refused_queries_are_refused_alike_every_time(query: str, message: str) -> None:
    for _ in range(2):
        result = await SCHEMA.execute(query)
        assert result.data is None
        assert [e.message for e in result.errors or []] == [message]


def test_the_sync_path_has_the_limits_too() -> None:
    for _ in range(2):
        result = SCHEMA.execute_sync(ALIASES)
        assert [e.message for e in result.errors or []] == ["3 aliases found. Allowed: 2"]
