"""The ASGI gate in front of GraphQL (app.graphql.gate.AuthGate): request ids, headers."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

from starlette.types import Message, Scope

from app.bootstrap import Container
from app.graphql.gate import AuthGate
from app.graphql.view import REQUEST_ID
from app.http.principal import PRINCIPAL
from app.services.tokens import Principal
from domain.token import Role

GOOD = "mr_good"


class Tokens:
    async def authenticate(self, secret: str) -> Principal | None:
        return Principal("t1", "alice", Role.ADMIN) if secret == GOOD else None


async def call(headers: list[tuple[bytes, bytes]]) -> tuple[list[Message], Scope | None]:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope)
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    container = cast(Container, SimpleNamespace(tokens=Tokens()))
    gate = AuthGate(app, lambda: container, max_body=1000, max_upload=1000)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": headers, "query_string": b""}
    await gate(scope, receive, send)
    return sent, seen[0] if seen else None


def header(messages: list[Message], name: bytes) -> bytes | None:
    start = next(m for m in messages if m["type"] == "http.response.start")
    return dict(start["headers"]).get(name)


async def test_a_valid_request_id_is_kept_and_an_invalid_one_replaced() -> None:
    sent, scope = await call(
        [(b"authorization", b"Bearer " + GOOD.encode()), (b"x-request-id", b"r-1")]
    )
    assert scope is not None and scope[REQUEST_ID] == "r-1"
    assert header(sent, b"x-request-id") == b"r-1"
    sent, scope = await call([(b"authorization", GOOD.encode()), (b"x-request-id", b"bad id!")])
    assert scope is not None and scope[PRINCIPAL].name == "alice"
    given = header(sent, b"x-request-id")
    assert given is not None and len(given) == 32 and given != b"bad id!"


async def test_the_first_of_repeated_headers_counts() -> None:
    _, scope = await call([(b"authorization", GOOD.encode()), (b"authorization", b"mr_other")])
    assert scope is not None and scope[PRINCIPAL].name == "alice"
    sent, scope = await call([(b"authorization", b"mr_other"), (b"authorization", GOOD.encode())])
    assert scope is None
    assert sent[0]["status"] == 401


async def test_missing_and_invalid_tokens_get_their_own_401_messages() -> None:
    for headers, message in [
        ([], "authentication required: send Authorization: Bearer <token>"),
        ([(b"authorization", b"Bearer mr_nope")], "invalid or revoked token"),
    ]:
        sent, scope = await call(headers)
        assert scope is None
        assert sent[0]["status"] == 401
        body = json.loads(sent[1]["body"])
        assert body["errors"][0]["message"] == message
        assert header(sent, b"www-authenticate") == b"Bearer"


async def test_a_declared_body_over_the_limit_gets_413_before_authentication() -> None:
    sent, scope = await call([(b"content-length", b"5000")])
    assert scope is None
    assert sent[0]["status"] == 413
