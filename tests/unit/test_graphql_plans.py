"""Planned execution (app.graphql._plans): an operation runs from its plan with the answer
graphql-core's executor gives under strawberry's ``Schema.execute``: the same data, the
same errors at the same paths, null propagation, concurrent fields and DataLoader batches,
serial mutations; documents the plans leave alone get none."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Annotated, Any

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.dataloader import DataLoader

from app.graphql._documents import Checked, Documents
from app.graphql._plans import Plan, planner
from app.graphql.cost import Limits
from app.graphql.schema import build_schema


@dataclass
class Ctx:
    log: list[str] = field(default_factory=list)
    batches: list[list[int]] = field(default_factory=list)
    loader: DataLoader[int, int] | None = None

    def __post_init__(self) -> None:
        async def load(keys: list[int]) -> list[int]:
            self.batches.append(list(keys))
            return [k * 10 for k in keys]

        self.loader = DataLoader(load_fn=load)


@strawberry.enum
class Kind(enum.Enum):
    SMALL = "small"
    BIG = "big"


@strawberry.type
class Item:
    name: str
    tags: list[str]
    kind: Kind = Kind.SMALL
    note: str | None = None

    @strawberry.field
    def fail(self) -> str:
        raise ValueError(f"boom {self.name}")

    @strawberry.field
    def soft_fail(self) -> str | None:
        raise ValueError("soft")

    @strawberry.field
    async def later(self) -> int:
        await asyncio.sleep(0)
        return len(self.name)

    @strawberry.field
    async def later_fail(self) -> int:
        await asyncio.sleep(0)
        raise ValueError("late")

    @strawberry.field
    def required_null(self) -> str:
        return None  # type: ignore[return-value]

    @strawberry.field
    async def loaded(self, info: strawberry.Info[Ctx, None], key: int) -> int:
        assert info.context.loader is not None
        return await info.context.loader.load(key)


@strawberry.type
class Oops:
    message: str


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Person(Named):
    age: int


Result = Annotated[Item | Oops, strawberry.union("Result")]


@strawberry.input
class Filter:
    prefix: str = ""
    limit: int = 3


def _items(count: int) -> list[Item]:
    return [Item(name=f"i{n}", tags=[f"t{n}", "x"]) for n in range(count)]


@strawberry.type
class Query:
    @strawberry.field
    def items(self, count: int = 2) -> list[Item]:
        return _items(count)

    @strawberry.field
    def filtered(self, where: Filter) -> list[Item]:
        return [i for i in _items(where.limit) if i.name.startswith(where.prefix)]

    @strawberry.field
    async def item(self, name: str) -> Item | None:
        await asyncio.sleep(0)
        return None if name == "none" else Item(name=name, tags=[])

    @strawberry.field
    def result(self, ok: bool) -> Result:
        return Item(name="ok", tags=[]) if ok else Oops(message="not ok")

    @strawberry.field
    def named(self) -> Named:
        return Person(name="ann", age=3)

    @strawberry.field
    def maybe_items(self) -> list[Item | None]:
        return [Item(name="a", tags=[]), None]

    @strawberry.field
    def strict_items(self) -> list[Item]:
        return [Item(name="a", tags=[]), None]  # type: ignore[list-item]

    @strawberry.field
    async def awaited_items(self) -> list[int]:
        return [1, 2]

    @strawberry.field
    def matrix(self) -> list[list[int | None]]:
        return [[1, None], [2]]

    @strawberry.field
    def strict_matrix(self) -> list[list[int] | None]:
        return [[1], [2, None]]  # type: ignore[list-item]

    @strawberry.field
    def not_a_list(self) -> list[int]:
        return 5  # type: ignore[return-value]

    @strawberry.field
    def wrong_type(self) -> Result:
        return "neither"  # type: ignore[return-value]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def append(self, info: strawberry.Info[Ctx, None], value: str) -> list[str]:
        await asyncio.sleep(0)
        info.context.log.append(value)
        return list(info.context.log)

    @strawberry.mutation
    def must(self, info: strawberry.Info[Ctx, None]) -> str:
        raise ValueError("refused")


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation, types=[Person])


DOCUMENTS = Documents(SCHEMA._schema, Limits(), max_tokens=4000, max_entries=64, max_bytes=2**20)
PLAN_FOR = planner(SCHEMA._schema, DOCUMENTS.check)


def _formatted(errors: list[GraphQLError] | None) -> list[Any]:
    return [error.formatted for error in errors or []]


async def _planned(plan: Plan, variables: dict[str, Any] | None, ctx: Ctx) -> Any:
    outcome = plan.run(ctx, None, variables)
    if isawaitable(outcome):
        outcome = await outcome
    data, errors = outcome
    return data, _formatted(errors)


async def _executed(query: str, variables: dict[str, Any] | None, ctx: Ctx) -> Any:
    result = await SCHEMA.execute(query, variable_values=variables, context_value=ctx)
    return result.data, _formatted(result.errors)


SAME_ANSWERS: list[tuple[str, dict[str, Any] | None]] = [
    ("{ items { name tags kind note __typename } }", None),
    ("query($n: Int!) { items(count: $n) { name } }", {"n": 3}),
    ("{ a: items(count: 1) { n: name } b: items(count: 2) { name name } }", None),
    ("{ items { name fail } }", None),  # a non-null error nulls the item, then the list
    ("{ maybeItems { name fail } }", None),  # ... and only the item here
    ("{ items { softFail name } }", None),
    ("{ items { later laterFail } }", None),
    ('{ item(name: "x") { name later } none: item(name: "none") { name } }', None),
    ("{ items { requiredNull } }", None),
    ("{ result(ok: true) { __typename ... on Item { name } ... on Oops { message } } }", None),
    ("{ result(ok: false) { __typename ...O } } fragment O on Oops { message }", None),
    ("{ named { name ... on Person { age } } }", None),
    ("{ strictItems { name } }", None),
    ("{ awaitedItems }", None),
    ("{ matrix strictMatrix }", None),  # a null item nulls its inner list only
    ("{ notAList }", None),
    ("{ wrongType { __typename } }", None),
    ("query($w: Filter!) { filtered(where: $w) { name } }", {"w": {"prefix": "i", "limit": 2}}),
    ('{ filtered(where: {prefix: "i1"}) { name } }', None),
    ("query($n: Int!) { items(count: $n) { name } }", {"n": "three"}),  # bad variables
    ("query($n: Int!) { items(count: $n) { name } }", {}),  # a missing variable
    ('mutation { a: append(value: "1") b: append(value: "2") c: append(value: "3") }', None),
    ("mutation { must }", None),
]


@pytest.mark.parametrize(("query", "variables"), SAME_ANSWERS)
async def test_a_planned_operation_answers_as_the_executor_does(
    query: str, variables: dict[str, Any] | None
) -> None:
    plan = PLAN_FOR(query, None)
    assert plan is not None
    planned = await _planned(plan, variables, Ctx())
    assert planned == await _executed(query, variables, Ctx())


async def test_a_plan_runs_again_with_other_variables() -> None:
    query = "query($n: Int!) { items(count: $n) { name later } }"
    plan = PLAN_FOR(query, None)
    assert plan is not None and PLAN_FOR(query, None) is plan
    for n in (0, 1, 4):
        planned = await _planned(plan, {"n": n}, Ctx())
        assert planned == await _executed(query, {"n": n}, Ctx())
        assert len(planned[0]["items"]) == n


async def test_mutations_run_one_after_another() -> None:
    plan = PLAN_FOR('mutation { a: append(value: "1") b: append(value: "2") }', None)
    assert plan is not None
    data, errors = await _planned(plan, None, Ctx())
    assert data == {"a": ["1"], "b": ["1", "2"]} and errors == []


async def test_concurrent_fields_load_in_one_batch() -> None:
    query = "{ items(count: 3) { loaded(key: 1) again: loaded(key: 2) } }"
    plan = PLAN_FOR(query, None)
    assert plan is not None
    planned_ctx, executed_ctx = Ctx(), Ctx()
    assert await _planned(plan, None, planned_ctx) == await _executed(query, None, executed_ctx)
    assert planned_ctx.batches == executed_ctx.batches == [[1, 2]]


async def test_siblings_of_a_failed_non_null_field_still_run_to_the_end() -> None:
    # The failing field nulls the whole answer while `later` is still pending.
    query = "{ strictItems { later } items { fail } }"
    plan = PLAN_FOR(query, None)
    assert plan is not None
    assert await _planned(plan, None, Ctx()) == await _executed(query, None, Ctx())
    await asyncio.sleep(0.01)  # pending siblings settle; warnings are errors here


@pytest.mark.parametrize(
    ("query", "operation_name"),
    [
        ("{ items @skip(if: true) { name } }", None),  # directives
        ("query($s: Boolean!) { items @include(if: $s) { name } }", None),
        ("{ __schema { queryType { name } } }", None),  # introspection
        ('{ __type(name: "Item") { name } }', None),
        ("{ items { nope } }", None),  # does not validate
        ("{ items { name }", None),  # does not parse
        ("query A { items { name } } query B { named { name } }", None),  # which one?
        ("query A { items { name } }", "B"),  # no such operation
    ],
)
def test_documents_left_to_the_executor_get_no_plan(query: str, operation_name: str | None) -> None:
    assert PLAN_FOR(query, operation_name) is None


def test_a_document_that_fails_while_planned_is_left_to_the_executor() -> None:
    def broken(query: str) -> Checked:
        raise RecursionError("too deep")

    assert planner(SCHEMA._schema, broken)("{ items { name } }", None) is None


def test_typename_and_named_operations_are_planned() -> None:
    assert PLAN_FOR("{ __typename }", None) is not None
    assert PLAN_FOR("query A { items { name } } query B { named { name } }", "B") is not None


async def test_the_app_schema_plans_and_masks_unexpected_errors_as_execute_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = build_schema()
    assert schema.plan_for("{ models(first: 1) { edges { node { name } } } }", None) is not None
    assert schema.plan_for("{ __schema { types { name } } }", None) is None
    unexpected = GraphQLError("db down", path=["models"], original_error=RuntimeError("db"))
    meant = GraphQLError("not allowed", path=["x"])
    context = type("C", (), {"request_id": "r-9"})()
    with caplog.at_level("ERROR"):
        masked = schema.plan_errors([unexpected, meant], context, "{ models }", None, None)
    assert masked[0].message.startswith("Internal error (request id r-9)")
    assert masked[0].path == ["models"]
    assert masked[1] is meant
    assert "request r-9: unexpected error" in caplog.text
