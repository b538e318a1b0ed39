"""The REST data plane: TensorFlow Serving / KServe v1 and the Open Inference Protocol v2.

HTTP things only: access keys, body limits, status codes. Routing and models live in
:mod:`app.serving.plane`; request and response shapes in :mod:`app.serving.codec`. The v1
predict route, the hot path, is a plain ASGI app of its own: :mod:`app.serving.asgi_v1`.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.serving._access import HttpError, authorize
from app.serving.asgi_v1 import PredictV1
from app.serving.codec import (
    ProtocolError,
    decode_v2,
    encode_v2,
    metadata_v2,
    parse_json,
)
from app.serving.plane import DataPlane, ServiceState
from app.serving.runtimes.base import RuntimeFailure

log = logging.getLogger("modelrepo.serving")

# The client went away, or its body timed out (408), before its request arrived: nobody to
# answer (uvicorn drops what is sent) and nothing to record. nginx's code for it.
_CLIENT_GONE = 499


class _Call:
    """What a predict request reached: its service and the version that answered."""

    __slots__ = ("state", "version")

    def __init__(self) -> None:
        self.state: ServiceState | None = None
        self.version: int | None = None


def _plane(request: Request) -> DataPlane:
    plane: DataPlane = request.app.state.container.serving
    return plane


def _limits(request: Request) -> tuple[int, int, int]:
    """A predict body's largest size in bytes, rows and JSON nesting."""
    settings = request.app.state.container.settings
    return settings.max_predict_bytes, settings.max_predict_rows, settings.max_json_depth


def _authorized(
    request: Request, plane: DataPlane, name: str, call: _Call | None = None
) -> ServiceState:
    """The service this request may call, or HttpError (401/404/400)."""
    host = request.headers.get("host")
    return authorize(plane, name, host, request.headers.getlist("authorization"), call)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"request body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _guarded(request: Request, handle: Any) -> Response:
    try:
        response: Response = await handle()
        return response
    except HttpError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    except (ProtocolError, RuntimeFailure) as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    except ClientDisconnect:
        return Response(status_code=_CLIENT_GONE)
    except Exception:
        request_id = uuid.uuid4().hex
        log.exception("request %s: unexpected error in %s", request_id, request.url.path)
        return JSONResponse({"error": f"internal error (request id {request_id})"}, status_code=500)


async def _measured(request: Request, handle: Any) -> Response:
    """``_guarded`` for the predict routes, recording each answer (status, latency) for
    the service it reached; requests for unknown services are not recorded."""
    started = time.perf_counter()
    call = _Call()
    response = await _guarded(request, lambda: handle(call))
    recorder = _plane(request).recorder
    if recorder is not None and call.state is not None and response.status_code != _CLIENT_GONE:
        row = call.state.row
        seconds = time.perf_counter() - started
        recorder.record(row.id, row.name, call.version, response.status_code, seconds)
    return response


async def status_v1(request: Request) -> Response:
    async def handle() -> Response:
        state = _authorized(request, _plane(request), request.path_params["name"])
        available = state.router is not None
        versions = (
            sorted({t.number for t, _ in state.router.targets}) if state.router is not None else []
        )
        return JSONResponse(
            {
                "model_version_status": [
                    {
                        "version": str(v),
                        "state": "AVAILABLE" if available else "LOADING",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                    for v in versions
                ]
                or [
                    {
                        "version": "",
                        "state": state.row.status,
                        "status": {
                            "error_code": "UNAVAILABLE",
                            "error_message": state.row.status_reason,
                        },
                    }
                ]
            }
        )

    return await _guarded(request, handle)


async def infer_v2(request: Request) -> Response:
    async def handle(call: _Call) -> Response:
        plane = _plane(request)
        state = _authorized(request, plane, request.path_params["name"], call)
        max_bytes, max_rows, max_depth = _limits(request)
        payload = parse_json(await _body(request, max_bytes), max_depth=max_depth)
        loaded = plane.choose(state)
        call.version = loaded.number
        batch = decode_v2(payload, loaded.runtime.inputs, max_rows=max_rows)
        outputs = await loaded.predict(batch)
        answer_id = payload.get("id") if isinstance(payload, dict) else None
        body = encode_v2(
            state.row.name, str(loaded.number), outputs, id=str(answer_id) if answer_id else None
        )
        return JSONResponse(body, headers={"x-model-version": str(loaded.number)})

    return await _measured(request, handle)


async def metadata(request: Request) -> Response:
    async def handle() -> Response:
        plane = _plane(request)
        state = _authorized(request, plane, request.path_params["name"])
        loaded = plane.choose(state)
        versions = sorted({str(t.number) for t, _ in state.router.targets}) if state.router else []
        body = metadata_v2(
            state.row.name,
            versions,
            loaded.runtime.inputs,
            loaded.runtime.outputs,
            loaded.runtime.name,
        )
        return JSONResponse(body)

    return await _guarded(request, handle)


async def model_ready(request: Request) -> Response:
    async def handle() -> Response:
        state = _authorized(request, _plane(request), request.path_params["name"])
        ready = state.router is not None
        return JSONResponse(
            {"name": state.row.name, "ready": ready}, status_code=200 if ready else 503
        )

    return await _guarded(request, handle)


async def live(request: Request) -> Response:
    return JSONResponse({"live": True})


async def ready(request: Request) -> Response:
    is_ready = _plane(request).ready
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


routes = [
    # The app.serving.asgi_v1 middleware answers these requests before Starlette routes
    # them; the route is here for what it passes on (other methods: 405; a root path).
    Route("/v1/models/{name}:predict", PredictV1(), methods=["POST"]),
    Route("/v1/models/{name}", status_v1, methods=["GET"]),
    Route("/v2/health/live", live, methods=["GET"]),
    Route("/v2/health/ready", ready, methods=["GET"]),
    Route("/v2/models/{name}/infer", infer_v2, methods=["POST"]),
    Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
    Route("/v2/models/{name}", metadata, methods=["GET"]),
]
