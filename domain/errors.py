"""Domain errors: expected failures that the API reports as typed results."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every expected failure. ``str(error)`` is a message for people."""


class ValidationError(DomainError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NameTaken(DomainError):
    def __init__(self, name: str, model_list: str = "", kind: str = "model") -> None:
        where = f" in the {model_list.lower()} list" if model_list else ""
        super().__init__(
            f"a {kind} named {name!r} already exists{where}"
            " (names are compared ignoring case and surrounding spaces)"
        )
        self.name = name
        self.model_list = model_list


class NotFound(DomainError):
    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind
        self.ident = ident


class AlreadyDeleted(DomainError):
    def __init__(self, kind: str, ident: str, state: str = "deleted") -> None:
        super().__init__(f"{kind} {ident} is {state} and cannot be changed")
        self.kind = kind
        self.ident = ident


class InvalidState(DomainError):
    """The thing exists but its state does not allow this (e.g. a finished task)."""

    def __init__(self, kind: str, ident: str, state: str, action: str) -> None:
        super().__init__(f"{kind} {ident} is {state}; cannot {action}")
        self.kind = kind
        self.state = state


class InUse(DomainError):
    """A version (or model) is deployed in services; ``services`` names them."""

    def __init__(self, kind: str, ident: str, services: list[str]) -> None:
        super().__init__(
            f"{kind} {ident} is used by services {', '.join(services)}; delete or change"
            " them first, or pass force: true to stop those deployments"
        )
        self.services = services
