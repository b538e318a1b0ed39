"""Strawberry's GraphQL view (``ModelrepoGraphQL``), through its hooks: the context of a
request (the caller and request id that app.graphql.gate.AuthGate found), the websocket's
authentication, and the limits on the JSON it reads.

JSON nested too deeply or larger than a request body may be is refused by ``decode_json``
(JsonRefused): in a body, GET variables and multipart operations the gate answers 400 with
the reason; graphql-transport-ws messages the gate checks the same way before the view
reads them (the socket closes with 4400 and the reason).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.types.unset import UNSET, UnsetType

from app.bootstrap import Container
from app.graphql.context import Context
from app.graphql.token_sockets import TokenSocket
from app.http.json_depth import nested_deeper, too_deep_reason
from app.http.principal import PRINCIPAL

REQUEST_ID = "modelrepo.request_id"
SOCKET = "modelrepo.socket"  # the TokenSocket of a websocket
HTTP_REQUEST = "modelrepo.http_request"  # the view's Request, whose uploads the gate closes

ContainerGetter = Callable[[], Container]


class JsonRefused(Exception):
    """JSON the view will not read (too deep, too large), and the reason told the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
        self._max_json_depth = max_json_depth
        self._max_json_bytes = max_json_bytes

    def encode_json(self, data: object) -> str:
        """Answers and websocket messages as JSON text (bytes would go out as binary
        frames, which graphql-ws clients cannot read). orjson writes a list of a hundred
        models ten times faster than ``json``; an integer beyond 64 bits (BigInt), which
        orjson refuses, is written by ``json``."""
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return json.dumps(data, separators=(",", ":"))

    def decode_json(self, data: str | bytes) -> object:
        """The view's JSON: a body, GET variables and extensions, multipart operations,
        websocket messages. Refused (JsonRefused) when nested too deeply or larger than a
        request body may be (which bounds websocket messages, otherwise only bounded by the
        server)."""
        limit = self._max_json_bytes
        if len(data) * 4 > limit:  # no character takes more than 4 bytes
            size = len(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
            if size > limit:
                raise JsonRefused(f"JSON larger than {limit} bytes")
        too_deep = JsonRefused(too_deep_reason(self._max_json_depth))
        try:
            value = super().decode_json(data)
        except RecursionError:  # deeper than Python's own limit
            raise too_deep from None
        if nested_deeper(value, self._max_json_depth):
            raise too_deep
        return value

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
        if isinstance(request, Request):
            request.scope[HTTP_REQUEST] = request
        return Context(
            container=self._container(),
            principal=request.scope.get(PRINCIPAL),
            request_id=request.scope.get(REQUEST_ID, ""),
            request=request,
        )


def bearer_secret(header: str | None) -> str | None:
    """``Bearer <token>`` or the bare token."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return header.strip()
