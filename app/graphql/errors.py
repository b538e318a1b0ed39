"""Expected failures as union members the client can switch on."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry import ExceptionHandler
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from app.services import imports
from domain import errors as domain


@strawberry.interface
class Error:
    message: str


@strawberry.type
class ValidationError(Error):
    field: str


@strawberry.type
class NameTaken(Error):
    name: str


@strawberry.type
class NotFound(Error):
    kind: str


@strawberry.type
class AlreadyDeleted(Error):
    kind: str


@strawberry.type
class InvalidState(Error):
    kind: str
    state: str


@strawberry.type(description="The source of an import cannot be read; nothing was written.")
class SourceUnavailable(Error):
    pass


@strawberry.type(description="Services deploy it; pass force: true to remove it from them.")
class InUse(Error):
    services: list[str]


# Strawberry turns a domain error that a resolver raises into its union member, in the
# fields whose union has that member: the first handler here (in this order) whose
# exception and member fit. A domain error whose member a field's union lacks reaches the
# caller as a GraphQL error with its message (schema.py does not mask domain errors).


class ValidationErrorHandler(ExceptionHandler[domain.ValidationError, ValidationError]):
    def handle(
        self, exception: domain.ValidationError, *, field: StrawberryField, info: Info
    ) -> ValidationError:
        return ValidationError(message=str(exception), field=exception.field)


class NameTakenHandler(ExceptionHandler[domain.NameTaken, NameTaken]):
    def handle(
        self, exception: domain.NameTaken, *, field: StrawberryField, info: Info
    ) -> NameTaken:
        return NameTaken(message=str(exception), name=exception.name)


class NotFoundHandler(ExceptionHandler[domain.NotFound, NotFound]):
    def handle(self, exception: domain.NotFound, *, field: StrawberryField, info: Info) -> NotFound:
        return NotFound(message=str(exception), kind=exception.kind)


class AlreadyDeletedHandler(ExceptionHandler[domain.AlreadyDeleted, AlreadyDeleted]):
    def handle(
        self, exception: domain.AlreadyDeleted, *, field: StrawberryField, info: Info
    ) -> AlreadyDeleted:
        return AlreadyDeleted(message=str(exception), kind=exception.kind)


class InUseHandler(ExceptionHandler[domain.InUse, InUse]):
    def handle(self, exception: domain.InUse, *, field: StrawberryField, info: Info) -> InUse:
        return InUse(message=str(exception), services=exception.services)


class SourceUnavailableHandler(ExceptionHandler[imports.SourceUnavailable, SourceUnavailable]):
    def handle(
        self, exception: imports.SourceUnavailable, *, field: StrawberryField, info: Info
    ) -> SourceUnavailable:
        return SourceUnavailable(message=str(exception))


class InvalidStateHandler(ExceptionHandler[domain.InvalidState, InvalidState]):
    def handle(
        self, exception: domain.InvalidState, *, field: StrawberryField, info: Info
    ) -> InvalidState:
        return InvalidState(message=str(exception), kind=exception.kind, state=exception.state)


MAPPED: tuple[type[domain.DomainError], ...] = (
    domain.ValidationError,
    domain.NameTaken,
    domain.NotFound,
    domain.AlreadyDeleted,
    domain.InUse,
    imports.SourceUnavailable,
    domain.InvalidState,
)


class OtherDomainErrorHandler(ExceptionHandler[domain.DomainError, ValidationError]):
    """Any other domain error (one without a member of its own) as a ValidationError
    without a field. It declines the errors that have a member (``MAPPED``): where the
    field's union lacks that member, they stay GraphQL errors. Last in the list: a
    feature's handler for an error of its own (ImportFailed) comes before it."""

    def handle(
        self, exception: domain.DomainError, *, field: StrawberryField, info: Info
    ) -> ValidationError | None:
        if isinstance(exception, MAPPED):
            return None
        return ValidationError(message=str(exception), field="")


DOMAIN_ERRORS: tuple[ExceptionHandler[Any, Any], ...] = (
    ValidationErrorHandler(),
    NameTakenHandler(),
    NotFoundHandler(),
    AlreadyDeletedHandler(),
    InUseHandler(),
    SourceUnavailableHandler(),
    InvalidStateHandler(),
)
"""One handler per domain error with a union member (schema.py adds the feature's own
and then OtherDomainErrorHandler)."""
