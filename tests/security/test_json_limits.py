"""JSON that nests or weighs more than a request may, sent where it was not checked: a
graphql-transport-ws message (decoded by strawberry without limits; past Python's recursion
limit the decoder's RecursionError escaped the connection's handler) and a predict body
(checked against a fixed 64 levels whatever ``max_json_depth`` said; past numpy's 64
dimensions describing the rows recursed once per level, a RecursionError, 500).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message

from app.serving.codec import ProtocolError, decode_v1, decode_v2
from app.serving.runtimes.base import TensorSpec
from app.settings import Settings
from tests.e2e.conftest import Api
from tests.e2e.serving_helpers import V1, model_with_versions, publish

MAX_JSON_DEPTH = 16  # below the default, to tell this limit from the fixed one of before
MAX_REQUEST_BYTES = 100_000
TOO_DEEP = f"JSON nested more than {MAX_JSON_DEPTH} levels deep"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'modelrepo.db'}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The e2e suite's settings with this module's limits."""
    update = {"max_json_depth": MAX_JSON_DEPTH, "max_request_bytes": MAX_REQUEST_BYTES}
    return settings.model_copy(update=update)


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def subscribe(query: str, variables: str = "{}") -> str:
    payload = f'{{"query": {json.dumps(query)}, "variables": {variables}}}'
    return f'{{"id": "1", "type": "subscribe", "payload": {payload}}}'


async def over_websocket(api: Api, *texts: str) -> list[Message]:
    """Open a graphql-transport-ws socket to the app with the viewer's token, send
    connection_init and ``texts``; what the app sent until it closed the socket or ended
    the operation."""
    transport = api.client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: ASGIApp = transport.app
    scope = {
        "type": "websocket",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "scheme": "ws",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"authorization", f"Bearer {api.viewer}".encode())],
        "subprotocols": ["graphql-transport-ws"],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    outgoing: asyncio.Queue[Message] = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})
    for text in ('{"type": "connection_init"}', *texts):
        incoming.put_nowait({"type": "websocket.receive", "text": text})

    async def serve() -> None:
        await app(scope, incoming.get, outgoing.put)

    served = asyncio.create_task(serve())
    sent: list[Message] = []
    try:
        while not sent or sent[-1]["type"] != "websocket.close":
            sent.append(await asyncio.wait_for(outgoing.get(), 10))
            if sent[-1]["type"] == "websocket.send" and json.loads(sent[-1]["text"])["type"] in (
                "complete",
                "error",
            ):
                break
    finally:
        await incoming.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(served, 10)
    return sent


def answers(sent: list[Message]) -> list[Any]:
    return [json.loads(m["text"]) for m in sent if m["type"] == "websocket.send"]


# Just past the limit (the message adds a level), and past Python's recursion limit
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 40_000])
async def test_a_websocket_message_nested_too_deeply_closes_the_socket(
    api: Api, depth: int
) -> None:
    sent = await over_websocket(api, subscribe("{ me { name } }", f'{{"v": {nested(depth)}}}'))
    assert sent[0]["type"] == "websocket.accept"
    assert answers(sent) == [{"type": "connection_ack"}]
    assert sent[-1] == {"type": "websocket.close", "code": 4400, "reason": TOO_DEEP}


async def test_a_websocket_message_larger_than_a_request_body_closes_the_socket(
    api: Api,
) -> None:
    padding = json.dumps("x" * MAX_REQUEST_BYTES)
    sent = await over_websocket(api, subscribe("{ me { name } }", f'{{"pad": {padding}}}'))
    assert answers(sent) == [{"type": "connection_ack"}]
    assert sent[-1] == {
        "type": "websocket.close",
        "code": 4400,
        "reason": f"JSON larger than {MAX_REQUEST_BYTES} bytes",
    }
    # one nested just within the limit is answered (the message and payload are 3 levels)
    sent = await over_websocket(
        api, subscribe("{ me { name } }", f'{{"v": {nested(MAX_JSON_DEPTH - 4)}}}')
    )
    assert answers(sent)[1:] == [
        {"id": "1", "type": "next", "payload": {"data": {"me": {"name": "viewer-token"}}}},
        {"id": "1", "type": "complete"},
    ]


async def test_operations_over_a_websocket_get_the_cost_limits(api: Api) -> None:
    sent = await over_websocket(api, subscribe("{" + " me { name }" * 990 + " }"))
    assert answers(sent)[1:] == [
        {
            "id": "1",
            "type": "error",
            "payload": [
                {
                    "message": "'me' is selected more than 50 times in one selection set (at"
                    " the top of the query), with fragments expanded and fields of one name"
                    " merged; at most 50 are allowed.",
                    "locations": [{"line": 1, "column": 1}],
                }
            ],
        }
    ]


PREDICT_BODIES = {
    "/v1/models/deep-svc:predict": [
        '{"instances": %s}',
        '{"inputs": {"x": %s}}',
        '{"signature_name": "serving_default", "inputs": %s}',
    ],
    "/v2/models/deep-svc/infer": [
        '{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": %s}]}',
        '{"inputs": [{"name": "x", "shape": %s, "datatype": "FP32", "data": [1, 1, 1, 1]}]}',
    ],
}


async def test_predict_bodies_nested_deeper_than_the_setting_get_400(api: Api) -> None:
    _, versions = await model_with_versions(api, "deep", V1)
    _, key = await publish(api, "deep-svc", [{"versionId": versions[0]}])
    headers = {"Authorization": key, "content-type": "application/json"}
    for url, bodies in PREDICT_BODIES.items():
        for body in bodies:
            for depth in (MAX_JSON_DEPTH, 1_000, 100_000):  # the body adds a level or more
                response = await api.client.post(url, content=body % nested(depth), headers=headers)
                assert (response.status_code, response.json()) == (
                    400,
                    {"error": f"JSON nested deeper than {MAX_JSON_DEPTH} levels"},
                ), (url, body, depth)
    response = await api.client.post(
        "/v1/models/deep-svc:predict", json={"instances": [[1, 1, 1, 1]]}, headers=headers
    )
    assert response.json() == {"predictions": [[10.5]]}


SPECS = [TensorSpec("x", "FP32", (-1, 4))]


def nested_list(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_rows_nested_deeper_than_numpy_allows_are_refused_with_their_shape() -> None:
    # as a body may bring when max_json_depth allows it: past numpy's 64 dimensions and
    # past Python's recursion limit
    depth = 5_000
    with pytest.raises(ProtocolError) as refused:
        decode_v1({"instances": [[1, 2, 3, 4], nested_list(depth)]}, SPECS, max_rows=10)
    assert refused.value.status == 400
    assert refused.value.message.startswith(
        "input 'x' expects shape [-1, 4] (rows of 4), got a row of shape [1, 1, 1"
    )
    assert refused.value.message.endswith("1] (row 1)")
    tensor = {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": nested_list(depth)}
    with pytest.raises(ProtocolError) as refused:
        decode_v2({"inputs": [tensor]}, SPECS, max_rows=10)
    assert refused.value.status == 400
