"""The plain ASGI v1 predict path (app.serving.asgi_v1), driven with raw ASGI messages:
what httpx cannot send (a body in pieces, a client that goes away) and the same answers
whether the middleware or the Starlette route serves the request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.types import Message

from app.main import create_app
from tests.e2e.conftest import Api
from tests.e2e.serving_helpers import V1, model_with_versions, predict, publish

PATH = "/v1/models/asgi-svc:predict"


@pytest.fixture
async def served(api: Api) -> tuple[Api, str, Starlette]:
    _, versions = await model_with_versions(api, "asgi", V1)
    _, key = await publish(api, "asgi-svc", [{"versionId": versions[0]}])
    # A second app on the same (started) container, called with raw ASGI messages.
    app = create_app(api.container.settings, container=api.container)
    app.state.container = api.container
    return api, key, app


async def call(
    app: Starlette,
    key: str,
    pieces: list[Message],
    *,
    path: str = PATH,
    root_path: str = "",
    method: str = "POST",
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> list[Message]:
    """The messages the app sends for one request whose receive() yields ``pieces``."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"authorization", key.encode()), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
    }
    queue = list(pieces)
    sent: list[Message] = []

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def answer(sent: list[Message]) -> tuple[int, dict[bytes, bytes], Any]:
    start, body = sent
    assert start["type"] == "http.response.start" and body["type"] == "http.response.body"
    headers = dict(start["headers"])
    assert int(headers[b"content-length"]) == len(body["body"])
    return start["status"], headers, json.loads(body["body"])


def chunk(data: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


async def test_a_body_in_pieces_is_read_whole(served: tuple[Api, str, Starlette]) -> None:
    _, key, app = served
    pieces = [chunk(b'{"instances": [[1, 1,', True), chunk(b" 1, 1]]}", False)]
    status, headers, body = answer(await call(app, key, pieces))
    assert (status, body) == (200, {"predictions": [[10.5]]})
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"x-model-version"] == b"1"


async def test_the_route_answers_as_the_middleware_does(
    served: tuple[Api, str, Starlette],
) -> None:
    _, key, app = served
    for body in (b'{"instances": [[1, 1, 1, 1]]}', b'{"instances": [[1, 2]]}', b"{"):
        direct = answer(await call(app, key, [chunk(body, False)]))
        # Under a root path the middleware steps aside and Starlette's route serves it.
        routed = answer(await call(app, key, [chunk(body, False)], root_path="/prefix"))
        assert routed == direct
    assert direct[0] == 400 and "invalid JSON" in direct[2]["error"]


async def test_a_client_that_goes_away_gets_no_answer_and_no_record(
    served: tuple[Api, str, Starlette],
) -> None:
    api, key, app = served
    recorder = api.container.serving.recorder
    assert recorder is not None
    before = sum(series.requests for series in recorder.series.values())
    assert await call(app, key, [chunk(b'{"instances": ', True)]) == []
    assert sum(series.requests for series in recorder.series.values()) == before
    # The same through Starlette's routes (v2, and v1 under a root path): no 500, which
    # uvicorn would drop, but which was logged and recorded as an internal error.
    for path, root_path in (("/v2/models/asgi-svc/infer", ""), (PATH, "/prefix")):
        sent = await call(app, key, [chunk(b'{"inputs": ', True)], path=path, root_path=root_path)
        assert [m["status"] for m in sent if m["type"] == "http.response.start"] in ([], [499])
    assert sum(series.requests for series in recorder.series.values()) == before
    status, _, _ = answer(await call(app, "wrong", [chunk(b"{}", False)]))
    assert status == 401  # answered requests are recorded, refused ones too
    assert sum(series.requests for series in recorder.series.values()) == before + 1


async def test_other_methods_and_paths_are_left_to_starlette(
    served: tuple[Api, str, Starlette],
) -> None:
    api, key, app = served
    response = await api.client.put(PATH, headers={"Authorization": key})
    assert response.status_code == 405  # the route's, not a predict answer
    nested = await call(app, key, [chunk(b"{}", False)], path="/v1/models/a/b:predict")
    assert nested[0]["status"] == 404
    assert (await predict(api, "asgi-svc", key, {"instances": [[1, 1, 1, 1]]})).json() == {
        "predictions": [[10.5]]
    }


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    served: tuple[Api, str, Starlette],
) -> None:
    api, key, app = served
    declared = str(api.container.settings.max_predict_bytes + 1).encode()
    # No body follows: the refusal comes before anything is read.
    sent = await call(app, key, [], headers=((b"content-length", declared),))
    status, _, body = answer(sent)
    assert status == 413 and "larger than" in body["error"]
