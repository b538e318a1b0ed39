"""The per-request GraphQL context builds its DataLoaders on first use, once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from app.bootstrap import Container
from app.graphql.context import Context


async def test_loaders_are_built_on_first_use_and_per_context() -> None:
    container = cast(Container, SimpleNamespace(db=None))
    first = Context(container=container, principal=None, request_id="a")
    second = Context(container=container, principal=None, request_id="b")
    assert "loaders" not in vars(first)  # nothing built for an operation that uses none
    assert first.loaders is first.loaders
    assert first.loaders.models is not second.loaders.models
