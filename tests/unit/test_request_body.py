"""The data plane's one body reader and its one mapping from errors to answers."""

from __future__ import annotations

import logging

import pytest
from starlette.types import Message, Receive

from app.serving.codec import ProtocolError
from app.serving.errors import ClientGone, ServingError, error_answer
from app.serving.request_body import read_body
from app.serving.runtimes.base import RuntimeFailure


def receiver(*messages: Message) -> tuple[Receive, list[Message]]:
    """A receive() giving ``messages`` then disconnects, and the list of what it gave."""
    queue = list(messages)
    taken: list[Message] = []

    async def receive() -> Message:
        message = queue.pop(0) if queue else {"type": "http.disconnect"}
        taken.append(message)
        return message

    return receive, taken


def piece(body: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_pieces_are_read_whole() -> None:
    receive, _ = receiver(piece(b"ab", True), piece(b"", True), piece(b"cd", False))
    assert await read_body(receive, None, 4) == b"abcd"
    receive, _ = receiver(piece(b"", False))
    assert await read_body(receive, b"0", 4) == b""


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    receive, taken = receiver(piece(b"{}", False))
    with pytest.raises(ServingError) as caught:
        await read_body(receive, "5", 4)
    assert (caught.value.status, caught.value.message) == (413, "request body larger than 4 bytes")
    assert taken == []


async def test_a_body_longer_than_declared_or_the_limit_is_refused() -> None:
    receive, taken = receiver(piece(b"abc", True), piece(b"de", True), piece(b"f", False))
    with pytest.raises(ServingError) as caught:
        await read_body(receive, b"3", 4)
    assert caught.value.status == 413
    assert len(taken) == 2  # stops at the piece that crosses the limit


async def test_a_client_that_leaves_is_gone() -> None:
    receive, _ = receiver(piece(b"{", True))
    with pytest.raises(ClientGone):
        await read_body(receive, None, 100)


def test_serving_errors_answer_with_their_status_and_message() -> None:
    assert error_answer(ServingError("no service named 'x'", 404), "/p") == (
        404,
        {"error": "no service named 'x'"},
    )
    assert error_answer(ProtocolError("invalid JSON"), "/p") == (400, {"error": "invalid JSON"})
    assert error_answer(RuntimeFailure("inference failed"), "/p") == (
        500,
        {"error": "inference failed"},
    )


def test_anything_else_is_a_logged_500_with_a_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="modelrepo.serving"):
        status, body = error_answer(KeyError("secret detail"), "/v2/models/m/infer")
    assert status == 500
    assert body["error"].startswith("internal error (request id ")
    request_id = body["error"].removeprefix("internal error (request id ").removesuffix(")")
    assert "secret detail" not in body["error"]
    (record,) = caplog.records
    assert record.getMessage() == f"request {request_id}: unexpected error in /v2/models/m/infer"
    assert record.exc_info is not None and record.exc_info[0] is KeyError
