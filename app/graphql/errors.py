"""Expected failures as union members the client can switch on."""

from __future__ import annotations

import strawberry

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


ErrorType = (
    ValidationError
    | NameTaken
    | NotFound
    | AlreadyDeleted
    | InvalidState
    | SourceUnavailable
    | InUse
)


def to_error(exc: domain.DomainError) -> ErrorType:
    """The union member for a domain error."""
    if isinstance(exc, domain.ValidationError):
        return ValidationError(message=str(exc), field=exc.field)
    if isinstance(exc, domain.NameTaken):
        return NameTaken(message=str(exc), name=exc.name)
    if isinstance(exc, domain.NotFound):
        return NotFound(message=str(exc), kind=exc.kind)
    if isinstance(exc, domain.AlreadyDeleted):
        return AlreadyDeleted(message=str(exc), kind=exc.kind)
    if isinstance(exc, domain.InUse):
        return InUse(message=str(exc), services=exc.services)
    if isinstance(exc, imports.SourceUnavailable):
        return SourceUnavailable(message=str(exc))
    if isinstance(exc, domain.InvalidState):
        return InvalidState(message=str(exc), kind=exc.kind, state=exc.state)
    return ValidationError(message=str(exc), field="")
