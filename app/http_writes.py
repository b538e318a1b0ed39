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
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

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


def protocol_class() -> type[asyncio.Protocol] | None:
    """The coalescing protocol, or None when httptools is not installed."""
    if HttpToolsProtocol is None:
        return None
    return CoalescingHttpToolsProtocol


if HttpToolsProtocol is not None:

    class CoalescingHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            raw = cast(asyncio.Transport, transport)
            super().connection_made(cast(asyncio.Transport, CoalescedWrites(raw, self.loop)))

        def handle_websocket_upgrade(self) -> None:
            wrapped: Any = self.transport
            if isinstance(wrapped, CoalescedWrites):
                wrapped.flush()
                self.transport = wrapped.raw
            super().handle_websocket_upgrade()
