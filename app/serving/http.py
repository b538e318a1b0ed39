"""The data plane's Starlette routes: TensorFlow Serving / KServe v1 and the Open Inference
Protocol v2.

HTTP things only: each route turns its request into a :class:`~app.serving.plane.Call`
for the data plane (:mod:`app.serving.plane`), which answers it, and sends the answer. The
v1 predict route, the hot path, is a plain ASGI app of its own: :mod:`app.serving.asgi_v1`.
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.serving.asgi_v1 import PredictV1
from app.serving.errors import ClientGone
from app.serving.plane import Answer, Call, DataPlane
from app.serving.request_body import read_body

# The client went away, or its body timed out (408), before its request arrived: nobody to
# answer (uvicorn drops what is sent) and nothing recorded. nginx's code for it.
_CLIENT_GONE = 499


def _plane(request: Request) -> DataPlane:
    plane: DataPlane = request.app.state.container.serving
    return plane


def _call(request: Request) -> Call:
    headers = request.headers
    name: str = request.path_params["name"]
    return Call(name, headers.get("host"), headers.getlist("authorization"), request.scope["path"])


def _response(answer: Answer) -> Response:
    version = answer.version
    headers = None if version is None else {"x-model-version": str(version)}
    return Response(answer.content, answer.status, headers, media_type="application/json")


async def status_v1(request: Request) -> Response:
    return _response(_plane(request).model_status_v1(_call(request)))


async def infer_v2(request: Request) -> Response:
    read = partial(read_body, request.receive, request.headers.get("content-length"))
    try:
        answer = await _plane(request).infer_v2(_call(request), read)
    except ClientGone:
        return Response(status_code=_CLIENT_GONE)
    return _response(answer)


async def metadata(request: Request) -> Response:
    return _response(_plane(request).model_metadata_v2(_call(request)))


async def model_ready(request: Request) -> Response:
    return _response(_plane(request).model_ready_v2(_call(request)))


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
