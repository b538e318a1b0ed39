"""HTTP in front of GraphQL (``AuthGate``, an ASGI middleware before strawberry's view):
request ids, body size limit and bearer-token authentication; what the view refuses
(JsonRefused) or would fail on (a JSON body that is no object) answered with 400.

The GraphiQL page itself loads without a token; every operation needs one (401 otherwise).
A websocket without the header (browsers cannot send one) gives its token in the
graphql-transport-ws connection_init payload.
"""

from __future__ import annotations

import json
import re
import uuid

from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.graphql.token_sockets import TokenSocket
from app.graphql.view import (
    HTTP_REQUEST,
    REQUEST_ID,
    SOCKET,
    ContainerGetter,
    JsonRefused,
    ModelrepoGraphQL,
    bearer_secret,
)
from app.http.principal import PRINCIPAL
from app.services.tokens import Principal
from app.serving.errors import ClientGone, ServingError
from app.serving.request_body import read_body

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
NOT_AN_OBJECT = "The request body must be a JSON object (or a batch: a list)"
_OBJECT_OR_LIST = re.compile(rb"[ \t\r\n]*[\[{]")


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


def _lower_media_type(scope: Scope, headers: dict[str, str]) -> None:
    """A media type is case-insensitive, but strawberry's view reads ``Application/JSON``
    as an unsupported content type: the view gets it in lower case (its parameters as
    they were)."""
    given = headers.get("content-type")
    if given is None:
        return
    media_type, semicolon, parameters = given.partition(";")
    if media_type.islower() or not media_type.strip():
        return
    lowered = (media_type.lower() + semicolon + parameters).encode("latin-1")
    scope["headers"] = [
        (name, lowered if name == b"content-type" else value) for name, value in scope["headers"]
    ]


def _json_scalar(body: bytes, headers: dict[str, str]) -> bool:
    """A JSON body of a string, number, true, false or null, on which strawberry's view
    fails (500). Only a body that does not start as an object or a list is decoded."""
    if "application/json" not in headers.get("content-type", "").lower():
        return False
    if _OBJECT_OR_LIST.match(body):
        return False
    try:
        value = json.loads(body)
    except ValueError:  # not JSON: the view answers that itself
        return False
    return not isinstance(value, dict | list)


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


class AuthGate:
    """ASGI wrapper: assigns a request id, limits the body, authenticates the caller; in
    front of ModelrepoGraphQL, answers what its view refuses (JsonRefused, a JSON body that
    is no object) and checks websocket messages."""

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
        self._graphql = app if isinstance(app, ModelrepoGraphQL) else None

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
                await self.app(scope, self._checked_messages(socket), socket.send)
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
            body = await read_body(receive, None, limit)  # (the declared length: above)
        except ClientGone:  # gone, or its body timed out (408): nobody to answer
            return
        except ServingError:  # more than the limit arrived
            await _too_large(limit, request_id)(scope, receive, send)
            return
        send = _with_request_id(send, request_id)
        if self._graphql is not None:
            if scope["method"] == "POST" and _json_scalar(body, headers):
                await _plain(400, NOT_AN_OBJECT)(scope, receive, send)
                return
            _lower_media_type(scope, headers)
        try:
            await self.app(scope, _replay(body, receive), send)
        except JsonRefused as refused:  # while the view read the request: nothing sent yet
            await _plain(400, refused.reason)(scope, receive, send)

    def _checked_messages(self, socket: TokenSocket) -> Receive:
        """The websocket's messages, each checked as the view's ``decode_json`` checks it
        before the view reads it: one it would refuse closes the socket with 4400 and the
        reason, and the view sees the client leave."""
        graphql = self._graphql
        if graphql is None:
            return socket.receive

        async def receive() -> Message:
            message = await socket.receive()
            text = message.get("text") if message["type"] == "websocket.receive" else None
            if text is not None:
                try:
                    graphql.decode_json(text)
                except JsonRefused as refused:
                    close = {"type": "websocket.close", "code": 4400, "reason": refused.reason}
                    await socket.send(close)
                    return {"type": "websocket.disconnect", "code": 4400}
                except ValueError:
                    pass  # not JSON: the view answers that itself
            return message

        return receive

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
        except JsonRefused as refused:  # the operations or map: nothing sent yet
            await _plain(400, refused.reason)(scope, receive, tracked)
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
        finally:
            request = scope.get(HTTP_REQUEST)  # (ModelrepoGraphQL.get_context put it there)
            if isinstance(request, Request):
                await request.close()  # closes (and so deletes) the files it spooled

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
