"""The schema's limits (app.graphql.schema.QueryLimits), asked twice: the second answer
comes from the caches and must be the same; and the masking of unexpected errors
(MaskUnexpectedErrors)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionResult

from app.graphql.schema import MaskUnexpectedErrors, ModelrepoSchema, build_schema

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


@pytest.mark.parametrize("operation_name", [None, "Q"])
async def test_a_text_too_large_is_refused_by_its_size(operation_name: str | None) -> None:
    schema = build_schema(max_bytes=20)
    for _ in range(2):
        result = await schema.execute("query Q { me { name } }", operation_name=operation_name)
        assert result.data is None
        assert [e.message for e in result.errors or []] == [
            "The query is 23 bytes long; at most 20 bytes are allowed."
        ]
    assert len(schema.documents) == 0  # a text too large is not kept


@strawberry.type
class Failing:
    @strawberry.field
    def broken(self) -> str | None:
        raise RuntimeError("db down")

    @strawberry.field
    def refused(self) -> str | None:
        raise GraphQLError("not allowed")


@strawberry.type
class FailingFeed:
    @strawberry.subscription
    async def ticks(self) -> AsyncIterator[int | None]:
        yield 1
        raise RuntimeError("feed down")


async def test_unexpected_errors_of_a_subscription_are_masked() -> None:
    schema = ModelrepoSchema(
        query=Failing, subscription=FailingFeed, extensions=[MaskUnexpectedErrors]
    )
    results = await schema.subscribe(
        "subscription { ticks }", context_value=SimpleNamespace(request_id="r-7")
    )
    assert not isinstance(results, ExecutionResult)
    seen = [result async for result in results]
    assert [r.data for r in seen] == [{"ticks": 1}, None]
    assert [e.message for e in seen[1].errors or []] == [
        "Internal error (request id r-7); the server log has the details."
    ]


async def test_unexpected_errors_are_masked_with_the_request_id_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = ModelrepoSchema(query=Failing, extensions=[MaskUnexpectedErrors])
    with caplog.at_level("ERROR"):
        result = await schema.execute(
            "{ broken refused }", context_value=SimpleNamespace(request_id="r-9")
        )
    errors = {tuple(e.path or ()): e for e in result.errors or []}
    masked = errors[("broken",)]
    assert masked.message.startswith("Internal error (request id r-9)")
    assert masked.extensions == {"requestId": "r-9"}
    assert errors[("refused",)].message == "not allowed"
    assert "request r-9: unexpected error" in caplog.text
    assert "db down" in caplog.text  # the traceback, in the log only
