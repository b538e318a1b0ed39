"""The cost of a document with its fragments expanded (app.graphql.cost): the same depth and
alias counts as strawberry's rules, which expand every spread, for documents small enough
for them; cycles and unknown fragments left to graphql-core's rules; long chains of
fragments without recursion."""

from __future__ import annotations

import pytest
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    parse,
    validate,
)
from strawberry.extensions import QueryDepthLimiter
from strawberry.extensions.max_aliases import count_fields_with_alias

from app.graphql.cost import Limits, cost_errors, fragment_costs
from app.graphql.schema import build_schema

SCHEMA = build_schema()

DOCUMENTS = [
    "{ me { name } }",
    "{ a: me { ...T } b: me { ... on ApiToken { c: name } } }"
    " fragment T on ApiToken { id d: name ...U } fragment U on ApiToken { e: role }",
    "query Q { models(first: 2) { edges { node { ...M } } } }"
    " fragment M on Model { name versions { edges { node { id } } } }",
    "{ __schema { types { fields { type { ofType { name } } } } } me { x: name } }",
    "query A { me { ...T } } query B { me { ...T ...T } } fragment T on ApiToken { a: id b: name }",
]


def strawberry_depths(document: DocumentNode) -> dict[str, int]:
    depths: dict[str, int] = {}
    rules = QueryDepthLimiter(max_depth=100, callback=depths.update).validation_rules
    validate(SCHEMA._schema, document, rules)
    return depths


def strawberry_aliases(document: DocumentNode) -> int:
    definitions = document.definitions
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    return sum(
        count_fields_with_alias(d, fragments)
        for d in definitions
        if isinstance(d, OperationDefinitionNode)
    )


@pytest.mark.parametrize("query", DOCUMENTS)
def test_depth_and_aliases_are_strawberrys(query: str) -> None:
    document = parse(query)
    depths = strawberry_depths(document)
    aliases = strawberry_aliases(document)
    for depth in range(max(depths.values()) + 1):
        errors = [e.message for e in cost_errors(document, Limits(max_depth=depth))]
        expected = [
            f"'{name}' exceeds maximum operation depth of {depth}"
            for name, found in depths.items()
            if found > depth
        ]
        assert [m for m in errors if "depth" in m] == expected
    assert [e.message for e in cost_errors(document, Limits(max_aliases=aliases - 1))] == [
        f"{aliases} aliases found. Allowed: {aliases - 1}"
    ]
    assert cost_errors(document, Limits(max_aliases=aliases)) == []


def test_fields_count_every_spread_expanded() -> None:
    document = parse(
        "{ me { ...A ...A } } fragment A on ApiToken { ...B ...B ...B }"
        " fragment B on ApiToken { id name }"
    )
    a, b = document.definitions[1:]
    assert isinstance(a, FragmentDefinitionNode) and isinstance(b, FragmentDefinitionNode)
    assert fragment_costs({"A": a, "B": b})["A"].fields == 6
    assert [e.message for e in cost_errors(document, Limits(max_fields=12))] == [
        "The query selects 13 fields with its fragments expanded; at most 12 are allowed."
    ]
    assert cost_errors(document, Limits(max_fields=13)) == []


async def test_cycles_and_unknown_fragments_are_left_to_the_other_rules() -> None:
    query = (
        "{ me { ...A ...Nope } } fragment A on ApiToken { name ...B }"
        " fragment B on ApiToken { id ...A }"
    )
    assert cost_errors(parse(query), Limits()) == []
    result = await SCHEMA.execute(query)
    assert sorted(e.message for e in result.errors or []) == [
        "Cannot spread fragment 'A' within itself via 'B'.",
        "Unknown fragment 'Nope'.",
    ]


def test_a_long_chain_of_deeply_nested_fragments_is_walked_without_recursion() -> None:
    nesting = "models { edges { node { versions { edges { node { " * 10
    closing = "} } } } } } " * 10
    fragments = " ".join(
        f"fragment F{i} on Query {{ {nesting} id {closing} ...F{i + 1} }}" for i in range(100)
    )
    query = "{ ...F0 } " + fragments + " fragment F100 on Query { me { name } }"
    errors = [
        e.message for e in cost_errors(parse(query), Limits(max_fragments=101, max_fields=10_000))
    ]
    assert errors == ["'anonymous' exceeds maximum operation depth of 12"]
