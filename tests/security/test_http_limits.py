"""HTTP request heads on the real server: a size limit (431), a timeout (408), and idle
keep-alive connections closed; request bodies that stop arriving get 408 (app.http_writes,
app.server).

Each attack goes over raw sockets to a `modelrepo serve` process. Before the limits a 1 MB
header was answered, an endless header grew the server by ~200 MB a minute, and a head sent
a byte at a time, or nothing at all, held its connection forever, as did a body (or a
multipart upload, with its spooled file) that stopped arriving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
import websockets
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from websockets.typing import Subprotocol

import app.server
from app.http_writes import protocol_class
from app.server import HttpLimits, uvicorn_config
from tests.e2e.servers import cli, running_servers

LIMIT = 64 * 1024  # Settings.max_header_bytes' default, which the server below keeps
HEAD_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
KEEPALIVE = 1.0
SLACK = 5.0  # generous: a loaded machine may be slow to close


class Server:
    def __init__(self, url: str, token: str, log_dir: Path) -> None:
        self.url, self.token = url, token
        self.authorization = b"authorization: Bearer %s\r\n" % token.encode()
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.log = log_dir / f"server-{self.address[1]}.log"
        (self.process,) = [
            child
            for child in psutil.Process().children()
            if str(self.address[1]) in child.cmdline()
        ]

    def connect(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=10)

    def rss(self) -> int:
        return int(self.process.memory_info().rss)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("http-limits")
    env = {
        **os.environ,
        "MODELREPO_DATA_DIR": str(tmp / "data"),
        "MODELREPO_DATABASE_URL": "",  # SQLite in the data directory
        "MODELREPO_BOOTSTRAP_ADMIN_TOKEN": "false",
        "MODELREPO_BATCH_WORKER": "false",
        "MODELREPO_OPTIMIZATION_WORKER": "false",
        "MODELREPO_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
        "MODELREPO_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "MODELREPO_KEEPALIVE_TIMEOUT_SECONDS": str(KEEPALIVE),
    }
    env.pop("MODELREPO_MAX_HEADER_BYTES", None)
    token = cli(env, "token", "create", "--role", "admin").stdout.strip()
    with running_servers(env, 1, tmp) as (url,):
        yield Server(url, token, tmp)


def head(size: int, path: bytes = b"/healthz", extra: bytes = b"") -> bytes:
    """A GET head of exactly ``size`` bytes, padded with ``x-pad-N`` headers of up to 4 KB
    (the websockets library refuses lines over 8 KB by itself)."""
    start = b"GET " + path + b" HTTP/1.1\r\nhost: test\r\n" + extra
    room = size - len(start) - 2
    count = -(-room // 4000)
    sizes = [room // count] * count
    sizes[-1] += room - sum(sizes)
    pads = []
    for number, line_size in enumerate(sizes):
        name = b"x-pad-%d: " % number
        pads.append(name + b"a" * (line_size - len(name) - 2) + b"\r\n")
    data = start + b"".join(pads) + b"\r\n"
    assert len(data) == size
    return data


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of the next response (which has a content-length), read a byte at
    a time up to its body so that a pipelined answer after it stays unread."""
    data = b""
    while not data.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, f"closed after {data!r}"
        data += byte
    status_line, *lines = data.split(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    length = 0
    for line in lines:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        assert chunk, f"closed after {data + body!r}"
        body += chunk
    return int(status_line.split(b" ")[1]), body


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send what the server reads; it may stop reading and close once it has refused."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def wait_for_close(sock: socket.socket, seconds: float) -> tuple[bytes, float | None]:
    """Everything received until the server closed, and after how long (None: still open)."""
    started = time.monotonic()
    received = b""
    sock.settimeout(0.2)
    while time.monotonic() - started < seconds:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return received, time.monotonic() - started
        received += chunk
    return received, None


def test_a_1_mb_header_gets_431_and_the_connection_closes(server: Server) -> None:
    with server.connect() as sock:
        send_all(sock, head(1024 * 1024))
        status, body = read_response(sock)
        assert (status, body) == (431, b"Request Header Fields Too Large")
        assert wait_for_close(sock, SLACK)[1] is not None


def test_a_head_just_under_the_limit_is_answered_and_one_just_over_gets_431(
    server: Server,
) -> None:
    with server.connect() as sock:
        sock.sendall(head(LIMIT - 64) + head(200))  # two requests on one connection
        assert read_response(sock)[0] == 200
        assert read_response(sock)[0] == 200
    with server.connect() as sock:
        send_all(sock, head(LIMIT + 64))
        assert read_response(sock)[0] == 431
    # A body far past the limit behind a small head is no head: it is answered as before.
    body = b'{"query": "{ __typename }", "variables": {"pad": "%s"}}' % (b"a" * 300_000)
    post = b"POST /graphql HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
    with server.connect() as sock:
        sock.sendall(post + server.authorization + b"content-length: %d\r\n\r\n" % len(body) + body)
        assert read_response(sock) == (200, b'{"data":{"__typename":"Query"}}')


def send_endlessly(server: Server, start: bytes) -> tuple[bytes, int, int]:
    """Send ``start``, then 16 KB pieces of it for up to 32 MB or 20 s until the server
    answers; the answer, the bytes sent, and the server's RSS growth at its highest."""
    before = server.rss()
    peak = before
    answer = b""
    sent = 0
    with server.connect() as sock:
        sock.sendall(start)
        chunk = b"a" * 16384
        deadline = time.monotonic() + 20
        while sent < 32 * 1024 * 1024 and time.monotonic() < deadline and not answer:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if sent % (1024 * 1024) == 0:
                peak = max(peak, server.rss())
            sock.settimeout(0.001)
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                pass
            except ConnectionResetError:
                break
            sock.settimeout(10)
        peak = max(peak, server.rss())
        if answer and b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
    return answer, sent, peak - before


def test_an_endless_header_gets_431_and_the_server_does_not_grow(server: Server) -> None:
    start = b"GET /healthz HTTP/1.1\r\nhost: test\r\nx-endless: "
    answer, sent, growth = send_endlessly(server, start)
    assert answer.startswith(b"HTTP/1.1 431 "), (sent, answer[:100])
    assert growth < 5 * 1024 * 1024, (growth, sent)


def test_an_endless_trailer_after_a_chunked_body_gets_431_and_the_server_does_not_grow(
    server: Server,
) -> None:
    body = b'{"query": "{ __typename }"}'
    start = (
        b"POST /graphql HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
        + server.authorization
        + b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\nx-endless: " % (len(body), body)
    )
    answer, sent, growth = send_endlessly(server, start)
    assert answer.startswith(b"HTTP/1.1 431 "), (sent, answer[:100])
    assert growth < 5 * 1024 * 1024, (growth, sent)


def dribble(sock: socket.socket) -> tuple[bytes, float]:
    """Send a byte every 0.25 s until the server closes (or timeout + slack): what came
    back, and the seconds it took."""
    started = time.monotonic()
    sock.settimeout(0.25)
    received = b""
    while time.monotonic() - started < HEAD_TIMEOUT + SLACK:
        try:
            sock.sendall(b"a")
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


def test_a_head_dribbled_a_byte_at_a_time_gets_408_after_the_header_timeout(
    server: Server,
) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: test\r\nx-slow: ")
        received, closed_after = dribble(sock)
    assert received.startswith(b"HTTP/1.1 408 "), received[:100]
    assert closed_after < HEAD_TIMEOUT + SLACK


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    server: Server,
) -> None:
    with server.connect() as sock:
        received, closed_after = wait_for_close(sock, HEAD_TIMEOUT + SLACK)
    assert (received, closed_after is not None) == (b"", True)


def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(
    server: Server,
) -> None:
    with server.connect() as sock:
        sock.sendall(head(100))
        assert read_response(sock)[0] == 200
        sock.sendall(head(100))  # still open right after an answer
        assert read_response(sock)[0] == 200
        received, closed_after = wait_for_close(sock, 10)
    assert received == b""
    assert closed_after is not None
    # uvicorn's default was 5 s: this bound tells the setting was applied, with 3 s to spare.
    assert closed_after < KEEPALIVE + 3


WEBSOCKET = (
    b"upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\n"
    b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"sec-websocket-protocol: graphql-transport-ws\r\n"
)


def test_websocket_upgrade_requests_have_the_same_header_limit(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(head(LIMIT - 64, b"/graphql", WEBSOCKET))
        # Accepted (101), or refused by the app (403 if the websocket rules change): the
        # head itself was let through.
        assert read_response(sock)[0] in (101, 403)
    with server.connect() as sock:
        send_all(sock, head(LIMIT + 64, b"/graphql", WEBSOCKET))
        assert read_response(sock)[0] == 431
    with server.connect() as sock:
        send_all(sock, head(1024 * 1024, b"/graphql", WEBSOCKET))
        assert read_response(sock)[0] == 431


GRAPHQL_POST = b"POST /graphql HTTP/1.1\r\nhost: test\r\n"
TYPENAME = b'{"query": "{ __typename }"}'


def test_a_body_that_stops_arriving_gets_408_after_the_body_timeout(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            GRAPHQL_POST
            + server.authorization
            + b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n"
            + TYPENAME[:10]
        )
        received, closed_after = wait_for_close(sock, BODY_TIMEOUT + SLACK)
    assert received.startswith(b"HTTP/1.1 408 "), received[:100]
    assert closed_after is not None


def test_a_chunked_body_that_stops_midway_gets_408_after_the_body_timeout(
    server: Server,
) -> None:
    with server.connect() as sock:
        sock.sendall(
            GRAPHQL_POST
            + server.authorization
            + b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            + b"a\r\n%s\r\n" % TYPENAME[:10]
        )
        received, closed_after = wait_for_close(sock, BODY_TIMEOUT + SLACK)
    assert received.startswith(b"HTTP/1.1 408 "), received[:100]
    assert closed_after is not None


def test_a_chunked_body_whose_trailers_dribble_gets_408(server: Server) -> None:
    # Each trailer byte comes well within the body timeout; the trailers are bounded by the
    # header timeout, as a head is.
    with server.connect() as sock:
        sock.sendall(
            GRAPHQL_POST
            + server.authorization
            + b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n0\r\nx-slow: " % (len(TYPENAME), TYPENAME)
        )
        received, _ = dribble(sock)
    assert received.startswith(b"HTTP/1.1 408 "), received[:100]


def test_a_slow_but_steady_body_is_answered(server: Server) -> None:
    # 3 bytes every 0.3 s: ~3 s in all, three times the body timeout, never silent for long.
    with server.connect() as sock:
        sock.sendall(
            GRAPHQL_POST
            + server.authorization
            + b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(TYPENAME)
        )
        for at in range(0, len(TYPENAME), 3):
            time.sleep(0.3)
            sock.sendall(TYPENAME[at : at + 3])
        assert read_response(sock) == (200, b'{"data":{"__typename":"Query"}}')


def multipart_head(server: Server, file_bytes: int) -> tuple[bytes, bytes]:
    """The head and first parts of a GraphQL multipart upload whose file part declares
    ``file_bytes`` more bytes than the returned data holds."""
    boundary = b"b0undary"
    operations = b'{"query": "mutation ($f: Upload!) { __typename }", "variables": {"f": null}}'
    parts = (
        b'--%s\r\ncontent-disposition: form-data; name="operations"\r\n\r\n%s\r\n'
        b'--%s\r\ncontent-disposition: form-data; name="map"\r\n\r\n'
        b'{"0": ["variables.f"]}\r\n'
        b'--%s\r\ncontent-disposition: form-data; name="0"; filename="m.bin"\r\n'
        b"content-type: application/octet-stream\r\n\r\n"
    ) % (boundary, operations, boundary, boundary)
    length = len(parts) + file_bytes + len(b"\r\n--%s--\r\n" % boundary)
    head = (
        GRAPHQL_POST
        + server.authorization
        + b"content-type: multipart/form-data; boundary=%s\r\n" % boundary
        + b"content-length: %d\r\n\r\n" % length
    )
    return head, parts


def test_uploads_that_stop_midway_leave_no_open_file_or_memory_behind(
    server: Server,
) -> None:
    # Past starlette's 1 MB spool, so each upload's file part is on disk when it stops.
    sent_bytes = 3 * 1024 * 1024
    head_bytes, parts = multipart_head(server, 8 * 1024 * 1024)
    process = server.process
    log_before = server.log.read_text()
    with server.connect() as sock:  # one upload that stops, so that lazily opened files open
        sock.sendall(head_bytes + parts + b"a" * sent_bytes)
        assert wait_for_close(sock, BODY_TIMEOUT + SLACK)[1] is not None
    time.sleep(0.5)
    files_before, rss_before = process.num_fds(), server.rss()
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(server.connect()) for _ in range(8)]
        for sock in socks:
            sock.sendall(head_bytes + parts + b"a" * sent_bytes)
        # While they wait, their spooled files are open (more than one per upload), once
        # the server has read what was sent (on a busy machine that takes a moment).
        deadline = time.monotonic() + SLACK
        while process.num_fds() <= files_before + len(socks) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.num_fds() > files_before + len(socks)
        for sock in socks:
            received, closed_after = wait_for_close(sock, BODY_TIMEOUT + SLACK)
            assert received.startswith(b"HTTP/1.1 408 ") or received == b"", received[:100]
            assert closed_after is not None
        # Closed by the server while the client still holds its end open.
        deadline = time.monotonic() + SLACK
        while process.num_fds() > files_before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.num_fds() <= files_before
    deleted = [f.path for f in process.open_files() if "(deleted)" in f.path]
    assert deleted == []
    assert server.rss() - rss_before < 16 * 1024 * 1024
    # The app saw the client go away: no 500, no traceback.
    log = server.log.read_text()[len(log_before) :]
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]


# In process: the uvicorn internals the limits extend, and the fallback without httptools.


class Transport:
    """A transport that records what reaches it."""

    def __init__(self) -> None:
        self.written = b""
        self.eof = False
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += data

    def write_eof(self) -> None:
        self.eof = True

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def config_for(limit: int) -> Config:
    config = uvicorn_config(
        ok,  # type: ignore[arg-type]
        "127.0.0.1",
        0,
        access_log=False,
        limits=HttpLimits(
            max_header_bytes=limit,
            header_timeout_seconds=60,
            body_timeout_seconds=60,
            keepalive_timeout_seconds=5,
        ),
    )
    config.lifespan = "off"
    return config


def limited_protocol(limit: int) -> Any:
    protocol_type = protocol_class(
        max_header_bytes=limit, header_timeout_seconds=60, body_timeout_seconds=60
    )
    assert protocol_type is not None  # httptools comes with uvicorn[standard]
    return protocol_type(config=config_for(limit), server_state=ServerState(), app_state={})  # type: ignore[call-arg]


async def test_uvicorn_httptools_internals_the_limits_extend_are_unchanged() -> None:
    # If this fails, uvicorn changed what app.http_writes' head and body limits rely on:
    # read its HttpToolsProtocol again before adjusting CoalescingHttpToolsProtocol.
    hooks = ("data_received", "on_headers_complete", "on_message_complete", "on_body")
    for hook in (*hooks, "connection_made", "connection_lost", "handle_websocket_upgrade"):
        assert callable(getattr(HttpToolsProtocol, hook)), hook
    for hook in ("on_chunk_header", "on_chunk_complete"):  # ours shadow nothing of uvicorn's
        assert not hasattr(HttpToolsProtocol, hook), hook
    protocol = limited_protocol(LIMIT)
    assert {"cycle", "transport", "loop", "logger", "server_state"} <= vars(protocol).keys()
    assert isinstance(protocol.server_state.default_headers, list)
    protocol.connection_made(Transport())
    assert isinstance(protocol.flow, FlowControl)  # made in connection_made
    protocol.data_received(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 10\r\n\r\n")
    cycle = vars(protocol.cycle)
    assert {"disconnected", "keep_alive", "response_complete", "response_started"} <= cycle.keys()
    assert "waiting_for_100_continue" in cycle
    assert isinstance(cycle["message_event"], asyncio.Event)
    # Each cycle reads through the protocol's flow control, and receive() asks it to
    # resume reading, which is when the body timeout counts the client's silence from.
    assert cycle["flow"] is protocol.flow
    asked: list[bool] = []
    protocol.flow.resume_reading = lambda: asked.append(True)
    receiving = asyncio.ensure_future(protocol.cycle.receive())
    await asyncio.sleep(0)
    assert asked == [True]
    protocol.data_received(b"0123456789")
    await receiving
    protocol.connection_lost(None)
    await asyncio.sleep(0)


async def test_a_head_fed_in_small_pieces_is_counted_across_them() -> None:
    protocol = limited_protocol(1000)
    raw = Transport()
    protocol.connection_made(raw)
    data = head(5000)
    for at in range(0, len(data), 10):
        protocol.data_received(data[at : at + 10])
    for _ in range(5):
        await asyncio.sleep(0)
    assert raw.written.startswith(b"HTTP/1.1 431 ")
    assert raw.eof  # the answer is sent; what the client still sends is read and dropped
    protocol.connection_lost(None)


def test_without_httptools_the_h11_fallback_bounds_heads_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.server, "protocol_class", lambda **_: None)
    config = config_for(LIMIT)
    assert config.http == "auto"
    protocol = H11Protocol(
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.new_event_loop()
    )
    try:
        raw = Transport()
        protocol.connection_made(raw)  # type: ignore[arg-type]
        data = head(1024 * 1024)
        for at in range(0, len(data), 16384):
            if raw.closing:
                break
            protocol.data_received(data[at : at + 16384])
        assert raw.written.startswith(b"HTTP/1.1 400 ") and raw.closing
        assert at < 2 * LIMIT
    finally:
        protocol.loop.close()


async def test_a_websocket_message_larger_than_a_request_body_closes_the_socket(
    server: Server,
) -> None:
    # uvicorn read websocket messages up to 16 MiB before the app could refuse them.
    url = server.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(
        url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        additional_headers={"Authorization": f"Bearer {server.token}"},
        max_size=None,
    ) as socket_:
        await socket_.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await socket_.recv())["type"] == "connection_ack"
        await socket_.send("x" * 2_000_000)  # MODELREPO_MAX_REQUEST_BYTES is 1,000,000
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket_.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
