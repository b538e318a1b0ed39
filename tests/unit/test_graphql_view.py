"""The GraphQL endpoint: AuthGate in front of strawberry's view (ModelrepoGraphQL). Through
the gate every request gets the view's own answer, with the gate's request id and caller;
what the view would fail on or refuse (a JSON body that is no object, JSON nested too
deeply) gets 400 with the reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
import strawberry
from starlette.types import Message, Scope

from app.adapters.event_store.memory import InMemoryEventStore
from app.bootstrap import Container
from app.graphql.context import Context
from app.graphql.gate import AuthGate, GraphQLFirst
from app.graphql.scalars import BIG_INT_SCALAR, BigInt
from app.graphql.schema import build_schema
from app.graphql.view import REQUEST_ID, ModelrepoGraphQL
from app.http.principal import PRINCIPAL
from app.services.log_feed import LogFeed
from app.services.token_sessions import TokenSessions
from app.services.tokens import Principal
from domain.token import Role

GOOD = "mr_good"


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"hello {name}"

    @strawberry.field
    def caller(self, info: strawberry.Info[Context, None]) -> str:
        principal = info.context.principal
        return f"{principal.name if principal else '-'} {info.context.request_id}"

    @strawberry.field
    def huge(self) -> BigInt:
        return BigInt(2**70)

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("no")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def echo(self, text: str) -> str:
        return text


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncIterator[int]:
        yield 1


class Tokens:
    async def authenticate(self, secret: str) -> Principal | None:
        return Principal("t1", "alice", Role.ADMIN) if secret == GOOD else None

    async def still_grants(self, principal: Principal) -> bool:
        return True


SCHEMA = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=strawberry.schema.config.StrawberryConfig(scalar_map={BigInt: BIG_INT_SCALAR}),
)
CONTAINER = cast(Container, SimpleNamespace(tokens=Tokens()))


class Answer:
    def __init__(self, messages: list[Message]) -> None:
        start = next(m for m in messages if m["type"] == "http.response.start")
        self.status: int = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        bodies = [m for m in messages if m["type"] == "http.response.body"]
        self.body = b"".join(m.get("body", b"") for m in bodies)

    def json(self) -> Any:
        return json.loads(self.body)


async def post(
    body: bytes,
    *,
    content_type: str = "application/json",
    accept: str | None = None,
    via_view: bool = False,
    schema: strawberry.Schema = SCHEMA,
) -> Answer:
    """POST ``body`` through the gate; ``via_view``: straight to strawberry's view, with
    the caller and request id the gate would give it."""
    graphql = ModelrepoGraphQL(
        schema, lambda: CONTAINER, max_json_depth=8, multipart_uploads_enabled=True
    )
    headers = [(b"authorization", GOOD.encode()), (b"content-type", content_type.encode())]
    if accept is not None:
        headers.append((b"accept", accept.encode()))
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "headers": headers,
        "query_string": b"",
    }
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    if via_view:
        scope[PRINCIPAL] = Principal("t1", "alice", Role.ADMIN)
        scope[REQUEST_ID] = "r-1"
        await graphql(scope, receive, send)
    else:
        headers.append((b"x-request-id", b"r-1"))
        gate = AuthGate(graphql, lambda: CONTAINER, max_body=10_000, max_upload=10_000)
        await gate(scope, receive, send)
    return Answer(sent)


def operation(query: str, **more: Any) -> bytes:
    return json.dumps({"query": query, **more}).encode()


SAME_ANSWERS = [
    operation("{ hello }"),
    operation("query Q($n: String!) { hello(name: $n) }", variables={"n": "bob"}),
    operation('mutation { echo(text: "hi") }', operationName=None, extensions={}),
    operation("query A { hello } query B { caller }", operationName="B"),
    operation("{ caller }"),
    operation("{ huge }"),  # beyond 64 bits: written exactly
    operation("{ broken hello }"),  # a resolver's error next to data
    operation("{ nope }"),  # a validation error
    operation("{ hello"),  # a syntax error
    operation("subscription { ticks }"),
]


@pytest.mark.parametrize("body", SAME_ANSWERS)
async def test_one_json_operation_gets_the_views_answer_through_the_gate(body: bytes) -> None:
    answer = await post(body)
    expected = await post(body, via_view=True)
    assert (answer.status, answer.json()) == (expected.status, expected.json())
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["content-length"] == str(len(answer.body))
    assert answer.headers["x-request-id"] == "r-1"


async def test_resolvers_get_the_caller_and_request_id_of_the_gate() -> None:
    answer = await post(operation("{ caller }"))
    assert answer.json() == {"data": {"caller": "alice r-1"}}


async def test_big_integers_are_written_exactly() -> None:
    answer = await post(operation("{ huge }"))
    assert answer.body == b'{"data":{"huge":1180591620717411303424}}'


async def test_a_charset_parameter_is_still_json() -> None:
    answer = await post(operation("{ hello }"), content_type="Application/JSON; charset=utf-8")
    assert answer.json() == {"data": {"hello": "hello world"}}


async def test_a_subscription_over_http_gets_400_naming_the_websocket() -> None:
    answer = await post(operation("subscription { events { position } }"), schema=build_schema())
    assert answer.status == 400
    assert answer.body == (
        b"subscriptions are not served over POST: open a websocket to /graphql"
        b" (protocol graphql-transport-ws)"
    )
    assert answer.headers["x-request-id"] == "r-1"


@pytest.mark.parametrize(
    "body",
    [
        operation("{ hello }", variables={"v": [[[[[[[[1]]]]]]]]}),
        # past Python's recursion limit
        b'{"query": "{ hello }", "variables": {"v": ' + b"[" * 4_000 + b"]" * 4_000 + b"}}",
        b"[" + operation("{ hello }", variables={"v": [[[[[[[1]]]]]]]}) + b"]",
    ],
)
async def test_json_nested_too_deeply_gets_400_with_the_reason(body: bytes) -> None:
    answer = await post(body)
    assert (answer.status, answer.body) == (400, b"JSON nested more than 8 levels deep")
    assert answer.headers["x-request-id"] == "r-1"


async def test_multipart_operations_nested_too_deeply_get_400_with_the_reason() -> None:
    operations = operation("{ hello }", variables={"v": [[[[[[[[1]]]]]]]]}).decode()
    body = (
        f'--b0\r\ncontent-disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'
        '--b0\r\ncontent-disposition: form-data; name="map"\r\n\r\n{}\r\n--b0--\r\n'
    ).encode()
    answer = await post(body, content_type="multipart/form-data; boundary=b0")
    assert (answer.status, answer.body) == (400, b"JSON nested more than 8 levels deep")
    assert answer.headers["x-request-id"] == "r-1"
    shallow = body.replace(b"[[[[[[[[1]]]]]]]]", b"[1]")
    answer = await post(shallow, content_type="multipart/form-data; boundary=b0")
    assert answer.json() == {"data": {"hello": "hello world"}}


VIEW_REFUSALS: list[tuple[bytes, dict[str, str], int, str | None]] = [
    (b"{not json", {}, 400, "Unable to parse request body as JSON"),
    (b"[1, 2]", {}, 400, None),  # a batch (not enabled)
    (json.dumps({"query": 5}).encode(), {}, 400, "must be a string or null"),
    (operation("{ hello }", variables=[1]), {}, 400, "`variables` must be an object"),
    (operation("{ hello }", extensions="x"), {}, 400, "`extensions` must be an object"),
    (json.dumps({"variables": {}}).encode(), {}, 400, "No GraphQL query found"),
    (operation(""), {}, 400, "No GraphQL query found"),
    (operation("query A { hello }", operationName="Z"), {}, 400, None),
    (operation("{ hello }"), {"content_type": "text/plain"}, 400, "Unsupported content type"),
    (operation("{ hello }"), {"accept": "text/event-stream"}, 200, None),
    (operation("{ hello }"), {"accept": "multipart/mixed"}, 200, None),
]


@pytest.mark.parametrize(("body", "options", "status", "message"), VIEW_REFUSALS)
async def test_other_requests_get_the_views_answer_through_the_gate(
    body: bytes, options: dict[str, str], status: int, message: str | None
) -> None:
    content_type = options.get("content_type", "application/json")
    accept = options.get("accept")
    answer = await post(body, content_type=content_type, accept=accept)
    expected = await post(body, content_type=content_type, accept=accept, via_view=True)
    assert (answer.status, answer.body) == (expected.status, expected.body)
    assert answer.status == status
    if message is not None:
        assert message in answer.body.decode()


@pytest.mark.parametrize("body", [b'"{ hello }"', b"5", b" null", b"true\n"])
async def test_a_json_body_that_is_no_object_gets_400(body: bytes) -> None:
    answer = await post(body)  # strawberry's view would fail with a 500 on these
    assert answer.status == 400
    assert answer.body == b"The request body must be a JSON object (or a batch: a list)"
    assert answer.headers["x-request-id"] == "r-1"


async def test_websocket_messages_stay_text_frames() -> None:
    """graphql-ws clients (browsers) read only text frames: the websocket protocol sends
    what the view's ``encode_json`` returns, which must stay text."""
    store = InMemoryEventStore()
    sessions = TokenSessions(LogFeed(store), store, Tokens().still_grants)
    container = cast(Container, SimpleNamespace(tokens=Tokens(), sessions=sessions))
    graphql = ModelrepoGraphQL(SCHEMA, lambda: container)
    gate = AuthGate(graphql, lambda: container, max_body=10_000, max_upload=10_000)
    scope: Scope = {
        "type": "websocket",
        "path": "/graphql",
        "headers": [(b"authorization", GOOD.encode())],
        "query_string": b"",
        "subprotocols": ["graphql-transport-ws"],
    }
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    outgoing: asyncio.Queue[Message] = asyncio.Queue()
    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": "subscription { ticks }"}}
    incoming.put_nowait({"type": "websocket.connect"})
    for message in ({"type": "connection_init"}, subscribe):
        incoming.put_nowait({"type": "websocket.receive", "text": json.dumps(message)})
    served = asyncio.create_task(gate(scope, incoming.get, outgoing.put))
    try:
        accepted = await asyncio.wait_for(outgoing.get(), 5)
        frames = [await asyncio.wait_for(outgoing.get(), 5) for _ in range(3)]
    finally:
        await incoming.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(served, 5)
        await sessions.close()
        await sessions.feed.close()
    assert accepted["type"] == "websocket.accept"
    assert [f["type"] for f in frames] == ["websocket.send"] * 3
    assert all(f.get("bytes") is None for f in frames)
    assert [json.loads(f["text"]) for f in frames] == [
        {"type": "connection_ack"},
        {"id": "1", "type": "next", "payload": {"data": {"ticks": 1}}},
        {"id": "1", "type": "complete"},
    ]


@pytest.mark.parametrize(
    ("scope", "to_gate"),
    [
        ({"type": "http", "method": "POST", "path": "/graphql"}, True),
        ({"type": "http", "method": "GET", "path": "/graphql"}, True),
        ({"type": "websocket", "path": "/graphql"}, True),
        # the route table answers these: 405 for other methods, 404 or the console else
        ({"type": "http", "method": "PUT", "path": "/graphql"}, False),
        ({"type": "http", "method": "DELETE", "path": "/graphql"}, False),
        ({"type": "http", "method": "POST", "path": "/graphql/"}, False),
        ({"type": "http", "method": "POST", "path": "/v1/models/m:predict"}, False),
        ({"type": "http", "method": "POST", "path": "/graphql", "root_path": "/mr"}, False),
        ({"type": "lifespan"}, False),
    ],
)
async def test_graphql_first_sends_only_graphql_requests_to_the_gate(
    scope: Scope, to_gate: bool
) -> None:
    reached: list[str] = []

    def app(name: str) -> Any:
        async def asgi(scope: Scope, receive: Any, send: Any) -> None:
            reached.append(name)

        return asgi

    first = GraphQLFirst(app("router"), gate=app("gate"))
    await first(scope, cast(Any, None), cast(Any, None))
    assert reached == ["gate" if to_gate else "router"]
