"""HTTP in front of GraphQL: request ids, body size limit and bearer-token authentication.

The GraphiQL page itself loads without a token; every operation needs one (401 otherwise).
A websocket without the header (browsers cannot send one) gives its token in the
graphql-transport-ws connection_init payload.

A POST of one operation as JSON, what nearly every client sends, is answered by
``ModelrepoGraphQL.answer_json``: the same checks and the same answer as strawberry's HTTP
view, without the view's per-request set-up (a request adapter, a sub-response,
content-type parsing through the ``email`` package, the streaming and batch branches),
which cost about a tenth of a small mutation. The operation runs from its plan
(app.graphql._plans) when it has one, through ``Schema.execute`` otherwise. Everything
else (GET, uploads, batches, streaming answers, a body that is not a JSON object of the
expected shape) goes through strawberry's view, so its answers and error messages stay
strawberry's.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from inspect import isawaitable
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from app.bootstrap import Container
from app.graphql._plans import Plan
from app.graphql.context import Context
from app.graphql.schema import ModelrepoSchema
from app.graphql.token_sockets import TokenSocket
from app.http.json_depth import nested_deeper, too_deep_reason
from app.http.principal import PRINCIPAL
from app.services.tokens import Principal

REQUEST_ID = "modelrepo.request_id"
SOCKET = "modelrepo.socket"  # the TokenSocket of a websocket
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

ContainerGetter = Callable[[], Container]
_POST_OPERATIONS = OperationType.from_http("POST")
# Raised by Schema.execute before anything runs; the view turns them into 400 answers.
_REFUSED = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


class ModelrepoGraphQL(GraphQL[Context, None]):
    def __init__(
        self,
        schema: BaseSchema,
        container: ContainerGetter,
        *,
        max_json_depth: int = 64,
        max_json_bytes: int = 1_000_000,
        **kwargs: Any,
    ) -> None:
        super().__init__(schema, **kwargs)
        self._container = container
        self._planned = schema if isinstance(schema, ModelrepoSchema) else None
        self._max_json_depth = max_json_depth
        self._max_json_bytes = max_json_bytes

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            return await super().run(request, context, root_value)
        except _Refused as refused:
            if isinstance(request, WebSocket):  # a message: the connection ends with it
                await request.close(code=4400, reason=refused.reason)
                return request
            return _plain(400, refused.reason)
        finally:
            if isinstance(request, Request):
                await request.close()  # closes (and deletes) spooled upload files

    def decode_json(self, data: str | bytes) -> object:
        """The view's JSON: websocket messages, and through ``parse_json`` a body, GET
        variables and extensions, multipart operations. Refused when nested too deeply or
        larger than a request body may be (which bounds websocket messages, otherwise only
        bounded by the server): ``run`` answers 400, or closes the websocket with 4400."""
        limit = self._max_json_bytes
        if len(data) * 4 > limit:  # no character takes more than 4 bytes
            size = len(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
            if size > limit:
                raise _Refused(f"JSON larger than {limit} bytes")
        too_deep = _Refused(too_deep_reason(self._max_json_depth))
        try:
            value = super().decode_json(data)
        except RecursionError:  # deeper than Python's own limit
            raise too_deep from None
        if nested_deeper(value, self._max_json_depth):
            raise too_deep
        return value

    async def answer_json(
        self, scope: Scope, receive: Receive, send: Send, body: bytes, headers: Mapping[str, str]
    ) -> bool:
        """Answer a POST of one operation as a JSON object, as strawberry's view would;
        False, having done nothing, for any other request (the caller then hands it to
        the view). ``send`` gets the whole answer in two messages."""
        if scope["method"] != "POST" or not _plain_json(headers):
            return False
        try:
            data = json.loads(body)
        except ValueError:  # the view answers 400 with its own message
            return False
        except RecursionError:  # deeper than Python's own limit
            too_deep = True
        else:
            too_deep = nested_deeper(data, self._max_json_depth)
        if too_deep:
            await _plain(400, too_deep_reason(self._max_json_depth))(scope, receive, send)
            return True
        if isinstance(data, list):  # a batch
            return False
        if not isinstance(data, dict):  # strawberry's view fails on these with a 500
            await _plain(400, "The request body must be a JSON object (or a batch: a list)")(
                scope, receive, send
            )
            return True
        query = data.get("query")
        variables = data.get("variables")
        operation_name = data.get("operationName")
        extensions = data.get("extensions")
        if not (
            isinstance(query, str)
            and isinstance(variables, dict | None)
            and isinstance(operation_name, str | None)
            and isinstance(extensions, dict | None)
        ):
            return False
        request = Request(scope, receive)
        schema = self._planned
        # (operation extensions reach resolvers only through Schema.execute)
        plan = schema.plan_for(query, operation_name) if schema and extensions is None else None
        if plan is not None and schema is not None:
            result = await self._run_plan(schema, plan, request, query, variables, operation_name)
        else:
            try:
                result = await self.schema.execute(
                    query,
                    variable_values=variables,
                    context_value=await self.get_context(request, None),
                    operation_name=operation_name,
                    allowed_operation_types=_POST_OPERATIONS,
                    operation_extensions=extensions,
                )
            except _REFUSED:  # raised before execution: the view refuses it with its message
                return False
        content = _encode(await self.process_result(request, result))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})
        return True

    async def _run_plan(
        self,
        schema: ModelrepoSchema,
        plan: Plan,
        request: Request,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> ExecutionResult:
        """The operation run from its plan (app.graphql._plans): what ``Schema.execute``
        answers for it, errors logged and masked the same way."""
        context = await self.get_context(request, None)
        try:
            outcome = plan.run(context, None, variables)
            if isawaitable(outcome):
                outcome = await outcome
            data, errors = outcome
        except Exception as exc:  # Schema.execute turns these into an error too
            data, errors = None, [GraphQLError(str(exc), original_error=exc)]
        if errors:
            errors = schema.plan_errors(errors, context, query, variables, operation_name)
        return ExecutionResult(data=data, errors=errors or None)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A websocket opened without an Authorization header authenticates with the
        ``Authorization`` (or ``authorization``) key of its connection_init payload."""
        if context.principal is None:
            params = context.connection_params
            given = None
            if isinstance(params, dict):
                given = params.get("Authorization", params.get("authorization"))
            secret = bearer_secret(given) if isinstance(given, str) else None
            principal = (
                None if secret is None else await self._container().tokens.authenticate(secret)
            )
            if principal is None:
                raise ConnectionRejectionError({"message": "authentication required"})
            context.principal = principal
        # Tracked under its token until it closes; refused if the token was revoked (or
        # changed) after the cached lookup that let it in.
        socket = context.request.scope.get(SOCKET) if context.request is not None else None
        if isinstance(socket, TokenSocket) and not await socket.watch(
            self._container().sessions, context.principal
        ):
            raise ConnectionRejectionError({"message": "invalid or revoked token"})
        acknowledged: UnsetType = UNSET  # a plain connection_ack
        return acknowledged

    async def get_context(self, request: Any, response: Any) -> Context:
        return Context(
            container=self._container(),
            principal=request.scope.get(PRINCIPAL),
            request_id=request.scope.get(REQUEST_ID, ""),
            request=request,
        )


def _encode(data: object) -> bytes:
    """The lane's answer as JSON. Not the view's ``encode_json``: strawberry sends what
    that returns over websockets too, bytes as binary frames, which graphql-ws clients
    (browsers) cannot read."""
    try:
        return orjson.dumps(data)
    except TypeError:  # an integer beyond 64 bits (BigInt), which json can write
        return json.dumps(data, separators=(",", ":")).encode()


def _header_values(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case) name, the first value of a repeated one, as
    starlette's ``Headers.get`` gives them: read once here instead of scanning the list
    for every header asked for."""
    values: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key not in values:
            values[key] = value.decode("latin-1")
    return values


def _plain_json(headers: Mapping[str, str]) -> bool:
    """A JSON body, and an answer wanted as one JSON document (not a stream)."""
    media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    accept = headers.get("accept", "").lower()
    return (
        media_type == "application/json"
        and "multipart/" not in accept
        and "event-stream" not in accept
    )


def _is_graphql_ws(scope: Scope) -> bool:
    return "graphql-transport-ws" in scope.get("subprotocols", [])


def _error(status: int, message: str, request_id: str, **headers: str) -> Response:
    body = json.dumps({"errors": [{"message": message, "extensions": {"requestId": request_id}}]})
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"x-request-id": request_id, **headers},
    )


def bearer_secret(header: str | None) -> str | None:
    """``Bearer <token>`` or the bare token."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return header.strip()


class AuthGate:
    """ASGI wrapper: assigns a request id, limits the body, authenticates the caller."""

    def __init__(
        self,
        app: ASGIApp,
        container: ContainerGetter,
        *,
        max_body: int,
        max_upload: int,
        graphiql: bool = True,
    ) -> None:
        self.app = app
        self.container = container
        self.max_body = max_body
        self.max_upload = max_upload
        self.graphiql = graphiql
        self._answer_json = app.answer_json if isinstance(app, ModelrepoGraphQL) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _header_values(scope)
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID_OK.match(given) else uuid.uuid4().hex
        scope[REQUEST_ID] = request_id

        if scope["type"] == "http" and self._is_graphiql_page(scope, headers):
            await self.app(scope, receive, _with_request_id(send, request_id))
            return

        header = headers.get("authorization")
        principal = await self._authenticate(header)
        if scope["type"] == "websocket":
            if principal is None and (header is not None or not _is_graphql_ws(scope)):
                await send({"type": "websocket.close", "code": 4401})
                return
            # Browsers cannot set headers on a websocket: without one, the token comes in
            # the connection_init payload (ModelrepoGraphQL.on_ws_connect checks it).
            # Either way the socket is closed (4403) when its token is revoked.
            socket = TokenSocket(receive, send)
            try:
                if principal is not None and not await socket.watch(
                    self.container().sessions, principal
                ):
                    socket.close("invalid or revoked token")  # before the handshake: refused
                    return
                scope[PRINCIPAL] = principal
                scope[SOCKET] = socket
                await self.app(scope, socket.receive, socket.send)
            finally:
                await socket.finish()
            return

        multipart = headers.get("content-type", "").startswith("multipart/form-data")
        limit = self.max_upload if multipart else self.max_body
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            # Refused before a byte of the body is read.
            await _too_large(limit, request_id)(scope, receive, send)
            return
        if principal is None:
            missing = bearer_secret(header) is None
            message = (
                "authentication required: send Authorization: Bearer <token>"
                if missing
                else "invalid or revoked token"
            )
            response = _error(401, message, request_id, **{"www-authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        scope[PRINCIPAL] = principal
        if multipart:
            await self._stream(scope, receive, send, limit, request_id)
            return
        try:
            body = await self._read_body(receive)
        except ClientDisconnect:  # gone, or its body timed out (408): nobody to answer
            return
        if body is None:
            await _too_large(limit, request_id)(scope, receive, send)
            return
        send = _with_request_id(send, request_id)
        if self._answer_json is not None and await self._answer_json(
            scope, receive, send, body, headers
        ):
            return
        await self.app(scope, _replay(body, receive), send)

    async def _stream(
        self, scope: Scope, receive: Receive, send: Send, limit: int, request_id: str
    ) -> None:
        """Uploads are not buffered: the body streams through (the multipart parser spools
        files to disk), counted, and cut off at the limit."""
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await _with_request_id(send, request_id)(message)

        try:
            await self.app(scope, counted, tracked)
        except _BodyTooLarge:
            if not started:
                await _too_large(limit, request_id)(scope, receive, send)
        except ClientDisconnect:
            # Gone, or its body timed out (408): nobody to answer. The multipart parser has
            # closed (and so deleted) the files it spooled.
            pass
        except MultiPartException as exc:
            if not started:
                await _error(400, f"malformed multipart body: {exc.message}", request_id)(
                    scope, receive, send
                )

    def _is_graphiql_page(self, scope: Scope, headers: dict[str, str]) -> bool:
        return (
            self.graphiql
            and scope.get("method") == "GET"
            and "text/html" in headers.get("accept", "")
            and "query" not in HTTPConnection(scope).query_params
        )

    async def _authenticate(self, header: str | None) -> Principal | None:
        secret = bearer_secret(header)
        if secret is None:
            return None
        return await self.container().tokens.authenticate(secret)

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                # A partial body is not a request (the rest might have changed its meaning).
                raise ClientDisconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


class GraphQLFirst:
    """Sends ``/graphql`` requests (GET, POST, websocket) to ``gate`` before Starlette's
    exception middleware and route table see them; everything else goes on to ``app``,
    whose ``/graphql`` routes lead to the same gate (and answer 405 for other methods)."""

    def __init__(self, app: ASGIApp, gate: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.gate = gate
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] in ("http", "websocket")
            and scope["path"] == self.path
            and not scope.get("root_path")
            and scope.get("method", "GET") in ("GET", "POST")
        ):
            await self.gate(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class _Refused(Exception):
    """JSON the view will not read (too deep, too large), and the reason told the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _plain(status: int, reason: str) -> Response:
    """As strawberry's view refuses a request (a plain-text reason)."""
    return PlainTextResponse(reason, status_code=status)


def _too_large(limit: int, request_id: str) -> Response:
    return _error(413, f"request body larger than {limit} bytes", request_id)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the buffered body to the app, then pass on what the client sends next (a
    streaming response watches for the disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _with_request_id(send: Send, request_id: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers.append((b"x-request-id", request_id.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped
