"""Domain errors raised by a resolver become the union member for them (strawberry's
exception_handlers), where the field's union has that member."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from app.graphql.errors import (
    DOMAIN_ERRORS,
    InUse,
    NameTaken,
    NotFound,
    OtherDomainErrorHandler,
    ValidationError,
)
from app.graphql.schema import schema as app_schema
from app.services.imports import SourceUnavailable
from domain import errors as domain

MEMBERS = "__typename ... on Error { message } ... on ValidationError { field }"


class Odd(domain.DomainError):
    """A domain error without a member of its own."""


@strawberry.type
class Done:
    ok: bool


Wide = Annotated[Done | ValidationError | NameTaken | NotFound | InUse, strawberry.union("Wide")]
Narrow = Annotated[Done | ValidationError, strawberry.union("Narrow")]
Bare = Annotated[Done | NotFound, strawberry.union("Bare")]
ERRORS: dict[str, domain.DomainError] = {
    "validation": domain.ValidationError("name", "is empty"),
    "taken": domain.NameTaken("m"),
    "missing": domain.NotFound("model", "x"),
    "used": domain.InUse("version", "v", ["s1", "s2"]),
    "odd": Odd("something odd"),
    "unavailable": SourceUnavailable("s3://b/k cannot be read"),
}


@strawberry.type
class Query:
    @strawberry.field
    async def wide(self, error: str) -> Wide:
        raise ERRORS[error]

    @strawberry.field
    def narrow(self, error: str) -> Narrow:  # a sync resolver too
        raise ERRORS[error]

    @strawberry.field
    async def bare(self, error: str) -> Bare:
        raise ERRORS[error]

    @strawberry.field
    async def done(self) -> Wide:
        return Done(ok=True)


schema = strawberry.Schema(
    query=Query, exception_handlers=(*DOMAIN_ERRORS, OtherDomainErrorHandler())
)


async def ask(field: str, error: str) -> Any:
    members = MEMBERS
    if field == "wide":
        members += " ... on NameTaken { name } ... on NotFound { kind } ... on InUse { services }"
    elif field == "bare":
        members = "__typename ... on NotFound { message }"
    return await schema.execute(f'{{ {field}(error: "{error}") {{ {members} }} }}')


async def test_each_domain_error_becomes_its_member() -> None:
    answers = {e: (await ask("wide", e)).data["wide"] for e in ("validation", "taken", "used")}
    assert answers["validation"] == {
        "__typename": "ValidationError",
        "message": "name: is empty",
        "field": "name",
    }
    assert answers["taken"]["__typename"] == "NameTaken" and answers["taken"]["name"] == "m"
    assert answers["used"] == {
        "__typename": "InUse",
        "message": str(ERRORS["used"]),
        "services": ["s1", "s2"],
    }
    missing = (await ask("wide", "missing")).data["wide"]
    assert missing == {"__typename": "NotFound", "message": "model x not found", "kind": "model"}


async def test_a_domain_error_without_a_member_is_a_validation_error_without_a_field() -> None:
    for field in ("wide", "narrow"):
        result = await ask(field, "odd")
        assert result.errors is None
        assert result.data[field] == {
            "__typename": "ValidationError",
            "message": "something odd",
            "field": "",
        }


async def test_an_error_whose_member_the_union_lacks_stays_a_graphql_error() -> None:
    for field, error in (("narrow", "missing"), ("narrow", "unavailable"), ("bare", "odd")):
        result = await ask(field, error)
        assert result.data is None
        assert result.errors is not None
        assert [e.message for e in result.errors] == [str(ERRORS[error])]
        assert isinstance(result.errors[0].original_error, type(ERRORS[error]))


async def test_a_result_passes_through() -> None:
    result = await schema.execute("{ done { __typename ... on Done { ok } } }")
    assert result.data == {"done": {"__typename": "Done", "ok": True}}


def test_the_app_schema_has_every_handler_with_the_catch_all_last() -> None:
    handlers = app_schema.exception_handlers
    assert handlers[: len(DOMAIN_ERRORS)] == DOMAIN_ERRORS
    assert isinstance(handlers[-1], OtherDomainErrorHandler)
    assert [type(h).__name__ for h in handlers[len(DOMAIN_ERRORS) : -1]] == ["ImportFailedHandler"]
