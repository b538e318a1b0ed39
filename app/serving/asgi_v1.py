"""``POST /v1/models/{service}:predict`` as a plain ASGI app: the data plane's hot path.

For a small model, Starlette's per-request machinery (its exception middleware, the route
table, Request and JSONResponse objects, header parsing) costs more than decoding, running
and encoding a single-row prediction. ``PredictV1Middleware`` therefore answers these
requests before Starlette routes them, reading the scope and headers directly, handing the
request to the data plane (``DataPlane.predict_v1``, which answers as on the other routes:
the same access check, limits, statuses, messages and monitoring records) and writing its
answer in two ASGI messages.

Anything it does not recognise (another method, a name with a slash, a root path) goes on to
the Starlette app, whose route for the path answers with the same ``PredictV1`` app.
"""

from __future__ import annotations

from functools import partial

from starlette.types import ASGIApp, Receive, Scope, Send

from app.serving.errors import ClientGone
from app.serving.plane import Call, DataPlane
from app.serving.request_body import read_body

PREFIX = "/v1/models/"
SUFFIX = ":predict"
_JSON = (b"content-type", b"application/json")


class PredictV1Middleware:
    """Sends v1 predict requests straight to ``PredictV1``; everything else to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.predict = PredictV1()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path: str = scope["path"]
            if path.startswith(PREFIX) and path.endswith(SUFFIX):
                name = path[len(PREFIX) : -len(SUFFIX)]
                if name and "/" not in name:  # as the route's {name} matches
                    await self.predict.answer(scope, receive, send, name)
                    return
        await self.app(scope, receive, send)


class PredictV1:
    """The v1 predict endpoint as an ASGI app (also mounted as the Starlette route)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.answer(scope, receive, send, scope["path_params"]["name"])

    async def answer(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        plane: DataPlane = scope["app"].state.container.serving
        host, authorizations, declared = _headers(scope["headers"])
        call = Call(name, host, authorizations, scope["path"])
        try:
            answer = await plane.predict_v1(call, partial(read_body, receive, declared))
        except ClientGone:
            return
        content = answer.content
        headers = [(b"content-length", str(len(content)).encode()), _JSON]
        if answer.version is not None:
            headers.append((b"x-model-version", str(answer.version).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _headers(raw: list[tuple[bytes, bytes]]) -> tuple[str | None, list[str], bytes | None]:
    """Host (the first), every Authorization value, and Content-Length (the first), read
    as Starlette reads them (names arrive lower-cased; values are latin-1)."""
    host: str | None = None
    authorizations: list[str] = []
    declared: bytes | None = None
    for key, value in raw:
        if key == b"authorization":
            authorizations.append(value.decode("latin-1"))
        elif key == b"host":
            if host is None:
                host = value.decode("latin-1")
        elif key == b"content-length" and declared is None:
            declared = value
    return host, authorizations, declared
