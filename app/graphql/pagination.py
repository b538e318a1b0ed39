"""Cursor connections (Relay style) and opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types.nodes import SelectedField, Selection

from app.services.ids import parse_id
from domain.errors import ValidationError

if TYPE_CHECKING:
    from app.graphql.context import Info

T = TypeVar("T")
MAX_PAGE = 100


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def query_id(value: str, field: str = "id") -> str:
    """A query argument that must be an id; a malformed one is a GraphQL error (queries
    answer null for unknown ids, mutations a union error)."""
    try:
        return str(parse_id(value, field))
    except ValidationError as exc:
        raise GraphQLError(str(exc)) from None


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def decode_cursor(cursor: str | None) -> Any:
    if cursor is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise GraphQLError(f"invalid cursor {cursor[:40]!r}") from None


def int_cursor(cursor: str | None) -> int | None:
    """A cursor that must hold a non-negative 32-bit integer (a number or a position)."""
    value = decode_cursor(cursor)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise GraphQLError("invalid cursor")
    return value


def pair_cursor(cursor: str | None) -> tuple[str, str] | None:
    """A cursor that must hold two strings (a sort key and an id)."""
    value = decode_cursor(cursor)
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise GraphQLError("invalid cursor")
    return value[0], value[1]


def check_first(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise GraphQLError(f"first must be between 1 and {MAX_PAGE} (got {first})")
    return first


def connection(items: list[tuple[str, T]], has_next: bool) -> Connection[T]:
    edges = [Edge(cursor=c, node=n) for c, n in items]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
    )


def node_selects(info: Info, field: str) -> bool:
    """Whether the connection being resolved asks for ``field`` on its nodes
    (``edges { node { field } }``, through fragments too). A list resolver reads such a
    field for the whole page at once when asked, so the nodes answer it without a
    coroutine each (graphql-core makes a task per awaitable field of every item)."""

    def asks(selections: list[Selection], path: tuple[str, ...]) -> bool:
        for selection in selections:
            if isinstance(selection, SelectedField):
                if selection.name == path[0] and (
                    len(path) == 1 or asks(selection.selections, path[1:])
                ):
                    return True
            elif asks(selection.selections, path):  # a fragment: same level
                return True
        return False

    return asks(info.selected_fields, (info.field_name, "edges", "node", field))
