"""uvicorn's httptools protocol, with the writes of one event-loop turn sent as one.

uvicorn writes a response's status line and headers, then its body, with two
``transport.write`` calls: two ``send()`` system calls and two TCP segments for every
answer, and the client wakes up for each. For the data plane's small answers that doubles
the per-request cost of the network stack on both sides (and with Nagle's algorithm left
on, as under ``uvicorn --workers``, the second segment waits for the client's delayed ACK:
uvicorn issue 3149). Here the connection's transport is wrapped so that writes are
collected and sent together at the end of the loop turn in which they were made, which is
the same turn for a response whose body is ready when it starts. (Sending at the end of the
turn measured faster than sending as soon as the response is complete: under load the
answers of one turn leave together, and the next requests arrive together, in bigger
batches.)

A WebSocket upgrade hands the protocol the raw transport, after sending what is pending.

The same protocol bounds a request's head (request line and headers), which httptools does
not: llhttp has no size limit, httptools joins a header's pieces until the header ends and
uvicorn the URL's, so an endless header line grew the server without bound, and uvicorn
times out only idle keep-alive connections, so a head sent a byte at a time held its
connection forever. Past ``max_header_bytes`` the answer is 431, past
``header_timeout_seconds`` 408 (a connection that sent nothing is just closed); either way
the connection then closes. Data is fed to the parser in pieces no larger than the limit, so
no more than the limit of a head is ever held (twice the limit for a pipelined head that
begins inside a piece, whose first part goes uncounted). WebSocket upgrade requests are
heads like any other, and a chunked body's trailer fields count as one.

A request body is bounded in time the same way, by silence rather than by total time (a
large model uploaded slowly but steadily passes): while a body is incomplete and the server
is reading, no byte may be missing for longer than ``body_timeout_seconds``, counted from
the last byte or from the last time the app asked for more (a client sent ``100 Continue``
only then, and reading paused while the app had not taken what arrived is the server's
silence, not the client's). Before the app has started its answer the client gets 408;
after, the connection just closes; either way the app's ``receive()`` then gives
``http.disconnect``. A chunked body's trailers dribbled in count as the body not arriving
once the header timeout has passed.
"""

from __future__ import annotations

import asyncio
import http
from collections.abc import Callable
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.flow_control import FlowControl

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools missing: uvicorn picks its h11 protocol
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


class CoalescedWrites:
    """A transport's stand-in: ``write`` collects, the next loop turn sends it all at once;
    ``close`` and ``write_eof`` send what is pending first; the rest is the transport's."""

    __slots__ = ("_loop", "_pending", "raw")

    def __init__(self, raw: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.raw = raw
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending and not self.raw.is_closing():
            self.raw.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def write_eof(self) -> None:
        self.flush()
        self.raw.write_eof()

    def close(self) -> None:
        self.flush()
        self.raw.close()

    def abort(self) -> None:
        self._pending = []
        self.raw.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


# After a 431 or 408 the client is likely still sending: its bytes are read and dropped for
# this long before closing, as closing a socket with unread data sends a reset that can
# destroy the answer before the client reads it (nginx's "lingering close").
LINGER_SECONDS = 2.0


class _ReadsWatched(FlowControl):
    """uvicorn's flow control, which also tells the protocol whenever the server asks for
    more of the request: each ``receive()`` of the app, and the end of a pipelined wait."""

    def __init__(self, transport: asyncio.Transport, wants_more: Callable[[], None]) -> None:
        super().__init__(transport)
        self._wants_more = wants_more

    def resume_reading(self) -> None:
        super().resume_reading()
        self._wants_more()


def protocol_class(
    *,
    max_header_bytes: int,
    header_timeout_seconds: float,
    body_timeout_seconds: float,
) -> type[asyncio.Protocol] | None:
    """The coalescing protocol with these head and body limits, or None when httptools is
    not installed (uvicorn's h11 protocol then bounds heads by
    ``h11_max_incomplete_event_size``, and has no head or body timeout)."""
    if HttpToolsProtocol is None:
        return None
    limits = {
        "max_header_bytes": max_header_bytes,
        "header_timeout_seconds": header_timeout_seconds,
        "body_timeout_seconds": body_timeout_seconds,
    }
    return type("CoalescingHttpToolsProtocol", (CoalescingHttpToolsProtocol,), limits)


def _refusal(status: int, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    reason = http.HTTPStatus(status).phrase.encode()
    lines = [b"HTTP/1.1 %d %s" % (status, reason)]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: text/plain; charset=utf-8",
        b"content-length: %d" % len(reason),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + reason


if HttpToolsProtocol is not None:

    class CoalescingHttpToolsProtocol(HttpToolsProtocol):
        # Set by protocol_class().
        max_header_bytes: ClassVar[int]
        header_timeout_seconds: ClassVar[float]
        body_timeout_seconds: ClassVar[float]

        # The head limits extend uvicorn's HttpToolsProtocol, which has none: they rely on
        # data_received feeding the parser, on_headers_complete, on_message_complete and
        # on_body being the parser's callbacks (httptools looks them up on the protocol, as it
        # does on_chunk_header and on_chunk_complete), and on self.cycle (its disconnected,
        # message_event, keep_alive, response_started, response_complete,
        # waiting_for_100_continue), self.transport, self.loop, self.logger and
        # self.server_state.default_headers. The body timeout also relies on self.flow being
        # a FlowControl made in connection_made and handed to each cycle, whose
        # resume_reading the cycle calls in every receive() and the protocol when a
        # pipelined request may go on (tests/security/test_http_limits.py checks them).
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # Bytes of the coming request head received so far; None while a body is read.
            self._head_bytes: int | None = 0
            self._head_timer: asyncio.TimerHandle | None = None
            # Refused, or upgraded to a WebSocket: nothing more is parsed here.
            self._done = False
            # While a request body is incomplete: since when the client has been silent (the
            # loop time of its last byte, or of the server's last asking for more).
            self._body_since: float | None = None
            self._body_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            raw = cast(asyncio.Transport, transport)
            super().connection_made(cast(asyncio.Transport, CoalescedWrites(raw, self.loop)))
            self.flow = _ReadsWatched(self.transport, self._server_wants_more)
            self._start_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            self._stop_body_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._done:
                return  # refused: read and dropped until the connection closes
            if self._body_since is not None:
                self._body_since = self.loop.time()
            counted = self._head_bytes
            if len(data) <= self.max_header_bytes - (counted or 0):  # the usual case
                if counted is not None:
                    self._head_bytes = counted + len(data)
                super().data_received(data)
            else:
                self._feed_in_pieces(data)
            if self._head_bytes and self._head_timer is None and not self._done:
                self._start_head_timer()
            # Armed only when a body is still incomplete after a piece has been parsed: a body
            # that arrives with its head (most requests) costs no timer.
            if self._body_since is not None and self._body_timer is None and not self._done:
                self._start_body_timer(self.body_timeout_seconds)

        def _feed_in_pieces(self, data: bytes) -> None:
            start = 0
            while start < len(data):
                counted = self._head_bytes
                room = self.max_header_bytes - (counted or 0)
                if room <= 0:
                    limit = self.max_header_bytes
                    self._refuse(431, "Request head (or trailers) over %d bytes.", limit)
                    return
                piece = data[start : start + room]
                start += room
                if counted is not None:
                    self._head_bytes = counted + len(piece)
                super().data_received(piece)
                if self._done or self.transport.is_closing():
                    return

        def on_headers_complete(self) -> None:
            self._head_bytes = None
            self._stop_head_timer()
            self._body_since = self.loop.time()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._head_bytes = 0
            self._body_since = None
            self._stop_body_timer()
            self._stop_head_timer()  # started if trailers came in several pieces
            super().on_message_complete()

        # A chunked body's last chunk (size 0) is followed by trailer fields, which httptools
        # joins like a head's headers: from a chunk's header to its data (none for the last)
        # or its end (after the trailers), bytes count as a head's.
        def on_chunk_header(self) -> None:
            self._head_bytes = 0

        def on_body(self, body: bytes) -> None:
            self._head_bytes = None
            super().on_body(body)

        def on_chunk_complete(self) -> None:
            self._head_bytes = None

        def handle_websocket_upgrade(self) -> None:
            self._done = True
            self._body_since = None
            self._stop_body_timer()
            wrapped: Any = self.transport
            if isinstance(wrapped, CoalescedWrites):
                wrapped.flush()
                self.transport = wrapped.raw
            super().handle_websocket_upgrade()

        def _start_head_timer(self) -> None:
            self._head_timer = self.loop.call_later(
                self.header_timeout_seconds, self._head_timed_out
            )

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport.is_closing():
                return
            if self._body_since is not None:
                # A chunked body's trailers dribbled in: the body did not arrive in time.
                timeout = self.header_timeout_seconds
                self._body_too_slow("Request trailers not complete within %s s.", timeout)
            elif self.cycle is not None and not self.cycle.response_complete:
                # A pipelined head dribbles in while an answer is being made: the answer is
                # finished, then the connection closes.
                self.cycle.keep_alive = False
            elif self._head_bytes:
                timeout = self.header_timeout_seconds
                self._refuse(408, "Request head not complete within %s s.", timeout)
            else:  # nothing sent: an idle connection, closed without a word
                self.transport.close()

        def _server_wants_more(self) -> None:
            if self._body_since is not None:
                self._body_since = self.loop.time()

        def _start_body_timer(self, delay: float) -> None:
            self._body_timer = self.loop.call_later(delay, self._body_timer_fired)

        def _stop_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _body_timer_fired(self) -> None:
            # Bytes arriving only move _body_since: the timer, once armed, is moved here.
            self._body_timer = None
            if self._body_since is None or self._done or self.transport.is_closing():
                return
            now = self.loop.time()
            cycle = self.cycle
            if self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
                # The server is not reading (the app has not taken what arrived, or an
                # earlier answer is being made), or the client awaits 100 Continue: the
                # silence is the server's, and the client's is counted once it asks again.
                self._body_since = now
            idle = now - self._body_since
            if idle < self.body_timeout_seconds:
                self._start_body_timer(self.body_timeout_seconds - idle)
                return
            timeout = self.body_timeout_seconds
            self._body_too_slow("Request body idle for %s s.", timeout)

        def _body_too_slow(self, message: str, limit: float) -> None:
            if self.cycle is None or not self.cycle.response_started:
                self._refuse(408, message, limit)
                return
            # The answer has begun (or is done, an early 413 or 401 while the body still
            # came): it cannot become a 408, so the connection closes, and connection_lost
            # tells the app's receive() that the client is gone.
            self._done = True
            self._stop_head_timer()
            self._stop_body_timer()
            self.logger.warning(message, limit)
            self.transport.close()

        def _refuse(self, status: int, message: str, limit: float) -> None:
            self._done = True
            self._stop_head_timer()
            self._stop_body_timer()
            if self.cycle is not None and not self.cycle.response_complete:
                # Trailers too long, or a pipelined head, while an answer is being made: that
                # answer is dropped, as when the client goes away (uvicorn's connection_lost).
                self.cycle.disconnected = True
                self.cycle.message_event.set()
            self.logger.warning(message, limit)
            self.transport.write(_refusal(status, self.server_state.default_headers))
            if self.transport.can_write_eof():  # TLS transports cannot
                self.transport.write_eof()
                self.loop.call_later(LINGER_SECONDS, self.transport.close)
            else:
                self.transport.close()
