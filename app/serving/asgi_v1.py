"""``POST /v1/models/{service}:predict`` as a plain ASGI app: the data plane's hot path.

For a small model, Starlette's per-request machinery (its exception middleware, the route
table, Request and JSONResponse objects, header parsing) costs more than decoding, running
and encoding a single-row prediction. ``PredictV1Middleware`` therefore answers these
requests before Starlette routes them, reading the scope, headers and body directly and
writing the answer in two ASGI messages. Everything else is as on the other routes: the
same access check, limits, statuses, messages and monitoring records.

Anything it does not recognise (another method, a name with a slash, a root path) goes on to
the Starlette app, whose route for the path answers with the same ``PredictV1`` app.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.serving._access import HttpError, authorize
from app.serving.codec import ProtocolError, dump_json, parse_json
from app.serving.plane import DataPlane, ServiceState
from app.serving.predict import run_v1
from app.serving.runtimes.base import RuntimeFailure

log = logging.getLogger("modelrepo.serving")

PREFIX = "/v1/models/"
SUFFIX = ":predict"
_JSON = (b"content-type", b"application/json")


class ClientGone(Exception):
    """The client disconnected before its request body arrived: nobody to answer."""


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
        started = time.perf_counter()
        container = scope["app"].state.container
        plane: DataPlane = container.serving
        settings = container.settings
        reached = _Reached()
        version: int | None = None
        try:
            host, authorizations, declared = _headers(scope["headers"])
            state = authorize(plane, name, host, authorizations, reached)
            body = await _body(receive, declared, settings.max_predict_bytes)
            payload = parse_json(body, max_depth=settings.max_json_depth)
            outcome = await run_v1(plane, state, payload, settings.max_predict_rows)
            status, answer, version = outcome.status, outcome.body, outcome.version_number
            content = dump_json(answer)
        except ClientGone:
            return
        except (HttpError, ProtocolError, RuntimeFailure) as exc:
            status, content = exc.status, dump_json({"error": exc.message})
        except Exception:
            request_id = uuid.uuid4().hex
            log.exception("request %s: unexpected error in %s", request_id, scope["path"])
            status = 500
            content = dump_json({"error": f"internal error (request id {request_id})"})
        recorder = plane.recorder
        if recorder is not None and reached.state is not None:
            row = reached.state.row
            seconds = time.perf_counter() - started
            recorder.record(row.id, row.name, version, status, seconds)
        headers = [(b"content-length", str(len(content)).encode()), _JSON]
        if version is not None:
            headers.append((b"x-model-version", str(version).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


class _Reached:
    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: ServiceState | None = None


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


async def _body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise ClientGone()
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise HttpError(413, f"request body larger than {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
