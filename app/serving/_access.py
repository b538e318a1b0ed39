"""Who may call a service: the service a request names (or its Host selects) and the
access key it presents. Shared by the Starlette routes and the plain ASGI predict path."""

from __future__ import annotations

from typing import Protocol

from app.services.keys import key_matches
from app.serving.plane import DataPlane, ServiceState


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Reached(Protocol):
    """Where a request's answer is recorded: set as soon as its service is known."""

    state: ServiceState | None


def authorize(
    plane: DataPlane,
    name: str,
    host: str | None,
    authorizations: list[str],
    call: Reached | None = None,
) -> ServiceState:
    """The service this request may call, or HttpError (404 unknown service; 400 several
    Authorization headers; 401 no key or the wrong one). The key is compared in constant
    time with the stored hash and opens its own service only."""
    state = plane.find(name, host)
    if state is None:
        raise HttpError(404, f"no service named {name[:80]!r}")
    if call is not None:
        call.state = state  # its answer is recorded even when the key is wrong
    if len(authorizations) > 1:
        raise HttpError(400, "send one Authorization header, not several")
    if not authorizations or not authorizations[0].strip():
        raise HttpError(401, "send the service's access key: Authorization: <key>")
    sent = authorizations[0].strip()
    scheme, _, rest = sent.partition(" ")
    key = rest.strip() if scheme.lower() == "bearer" else sent
    if not key_matches(key, state.row.key_hash):
        raise HttpError(401, f"the access key does not open service {state.row.name}")
    return state
