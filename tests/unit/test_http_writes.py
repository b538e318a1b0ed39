"""uvicorn's httptools protocol with one write per loop turn (app.http_writes)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from app.http_writes import CoalescedWrites, protocol_class


class Transport:
    """A transport that records what reaches it."""

    def __init__(self) -> None:
        self.log: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.log.append(("write", data))

    def write_eof(self) -> None:
        self.log.append(("eof", b""))

    def close(self) -> None:
        self.closing = True
        self.log.append(("close", b""))

    def abort(self) -> None:
        self.closing = True
        self.log.append(("abort", b""))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        self.log.append(("pause", b""))

    def resume_reading(self) -> None:
        self.log.append(("resume", b""))


async def turn() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_writes_of_one_turn_reach_the_transport_as_one() -> None:
    raw = Transport()
    wrapped = CoalescedWrites(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    wrapped.write(b"head ")
    wrapped.writelines([b"body", memoryview(b"!")])
    assert raw.log == []
    await turn()
    assert raw.log == [("write", b"head body!")]
    wrapped.write(b"next")
    await turn()
    assert raw.log[1:] == [("write", b"next")]
    wrapped.pause_reading()  # everything else is the transport's own
    assert raw.log[-1] == ("pause", b"")


async def test_close_and_eof_send_what_is_pending_first_and_abort_drops_it() -> None:
    loop = asyncio.get_running_loop()
    raw = Transport()
    wrapped = CoalescedWrites(raw, loop)  # type: ignore[arg-type]
    wrapped.write(b"last words")
    wrapped.write_eof()
    wrapped.write(b"bye")
    wrapped.close()
    await turn()
    assert raw.log == [("write", b"last words"), ("eof", b""), ("write", b"bye"), ("close", b"")]
    raw = Transport()
    wrapped = CoalescedWrites(raw, loop)  # type: ignore[arg-type]
    wrapped.write(b"never sent")
    wrapped.abort()
    await turn()
    assert raw.log == [("abort", b"")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await receive()
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize("requests", [1, 3])
async def test_each_response_leaves_in_one_write(requests: int) -> None:
    protocol_type = protocol_class(
        max_header_bytes=65536, header_timeout_seconds=10, body_timeout_seconds=30
    )
    assert protocol_type is not None  # httptools comes with uvicorn[standard]
    config = Config(app, lifespan="off", log_level="warning")
    protocol: Any = protocol_type(config=config, server_state=ServerState(), app_state={})  # type: ignore[call-arg]
    raw = Transport()
    protocol.connection_made(raw)
    request = b"POST /x HTTP/1.1\r\nhost: test\r\ncontent-length: 2\r\n\r\n{}"
    for _ in range(requests):
        protocol.data_received(request)
        for _ in range(20):
            await turn()
            if len(raw.log) == 1:
                break
        assert len(raw.log) == 1, raw.log
        ((kind, data),) = raw.log
        assert kind == "write" and data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert data.endswith(b'\r\n\r\n{"ok":true}')
        raw.log.clear()
    protocol.connection_lost(None)
