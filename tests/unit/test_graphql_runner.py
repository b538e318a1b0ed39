"""The lean extension runner (app.graphql._runner) still runs every hook there is."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from strawberry.extensions import SchemaExtension

from app.graphql.schema import ModelrepoSchema


@strawberry.type
class HelloQuery:
    @strawberry.field
    def hello(self) -> str:
        return "hi"


class Recorder(SchemaExtension):
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def on_parse(self) -> Iterator[None]:
        self.seen.append("parse")
        yield

    def on_validate(self) -> Iterator[None]:
        self.seen.append("validate")
        yield

    def on_execute(self) -> Iterator[None]:
        self.seen.append("execute")
        yield
        self.seen.append("executed")


class OperationOnly(SchemaExtension):
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def on_operation(self) -> Iterator[None]:
        self.seen.append("operation")
        yield


async def test_hooks_of_every_phase_run() -> None:
    seen: list[str] = []
    schema = ModelrepoSchema(query=HelloQuery, extensions=[lambda: Recorder(seen)])
    result = await schema.execute("{ hello }")
    assert result.data == {"hello": "hi"}
    assert seen == ["parse", "validate", "execute", "executed"]
    seen.clear()
    assert schema.execute_sync("{ hello }").data == {"hello": "hi"}
    assert seen == ["parse", "validate", "execute", "executed"]


async def test_phases_without_hooks_are_skipped_and_errors_still_reported() -> None:
    seen: list[str] = []
    schema = ModelrepoSchema(query=HelloQuery, extensions=[lambda: OperationOnly(seen)])
    assert (await schema.execute("{ hello }")).data == {"hello": "hi"}
    result = await schema.execute("{ nope }")
    assert [e.message for e in result.errors or []] == [
        "Cannot query field 'nope' on type 'HelloQuery'."
    ]
    result = await schema.execute("{ hello ")
    assert [e.message for e in result.errors or []] == ["Syntax Error: Expected Name, found <EOF>."]
    assert seen == ["operation"] * 3
