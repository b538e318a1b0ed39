"""node_selects: whether a connection's query asks for a field of its nodes."""

from __future__ import annotations

import pytest
import strawberry

from app.graphql.pagination import Connection, connection, node_selects

asked: list[bool] = []


@strawberry.type
class Item:
    name: str
    size: int


@strawberry.type
class Query:
    @strawberry.field
    def items(self, info: strawberry.Info) -> Connection[Item]:
        asked.append(node_selects(info, "size"))  # type: ignore[arg-type]
        return connection([("c", Item(name="a", size=1))], False)


schema = strawberry.Schema(Query)


@pytest.mark.parametrize(
    ("query", "selects"),
    [
        ("{ items { edges { node { size } } } }", True),
        ("{ listed: items { edges { node { bigness: size } } } }", True),
        ("{ items { edges { node { ...F } } } } fragment F on Item { size }", True),
        ("{ items { ... on ItemConnection { edges { node { ... on Item { size } } } } } }", True),
        ("{ items { edges { ...E } } } fragment E on ItemEdge { node { size } }", True),
        ("{ items { edges { node { name } } } }", False),
        ("{ items { edges { cursor } pageInfo { hasNextPage } } }", False),
    ],
)
async def test_node_selects(query: str, selects: bool) -> None:
    asked.clear()
    result = await schema.execute(query)
    assert result.errors is None
    assert asked == [selects]
