"""The benchmarks' HTTP clients, behind one small interface: httpx, or a lean keep-alive
HTTP/1.1 client (requests written by hand, answers parsed by httptools).

The lean one costs the client process tens of microseconds per request where httpx costs
about 400: with one sequential client that time adds to every request's latency, whatever
the server, so it shrinks the measured difference between two servers. Both peers always
get the same client; ``--client httpx`` shows the figures with httpx.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Mapping
from typing import Any, Protocol, Self, cast
from urllib.parse import urlencode, urlsplit

import httptools
import httpx

TIMEOUT_S = 60.0


class Response(Protocol):
    status_code: int

    def json(self) -> Any: ...
    def raise_for_status(self) -> Any: ...


class Client(Protocol):
    async def post(self, path: str, *, json: Any = None) -> Response: ...
    async def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Response: ...
    async def aclose(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self, exc_type: Any = None, exc_value: Any = None, traceback: Any = None
    ) -> None: ...


class HTTPStatusError(Exception):
    pass


class LeanResponse:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.content = body

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def raise_for_status(self) -> LeanResponse:
        if self.status_code >= 400:
            raise HTTPStatusError(f"HTTP {self.status_code}: {self.content[:300]!r}")
        return self


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request, parses the answer as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.parts: list[bytes] = []
        self.waiter: asyncio.Future[LeanResponse] | None = None
        self.closing = False  # the answer said "connection: close"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(exc or ConnectionError("the server closed the connection"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"connection" and b"close" in value.lower():
            self.closing = True

    def on_body(self, body: bytes) -> None:
        self.parts.append(body)

    def on_message_complete(self) -> None:
        response = LeanResponse(self.parser.get_status_code(), b"".join(self.parts))
        self.parts = []
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class LeanClient:
    """One keep-alive connection, one request at a time (like one httpx client limited to
    one connection). Content-Length and chunked answers both parse."""

    def __init__(self, base_url: str, headers: Mapping[str, str] | None = None) -> None:
        url = urlsplit(base_url)
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or 80
        fixed = {"host": url.netloc, "user-agent": "modelrepo-bench", **(headers or {})}
        self._head = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._conn: _Connection | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: Any = None, exc_value: Any = None, traceback: Any = None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    async def post(self, path: str, *, json: Any = None) -> LeanResponse:
        body = jsonlib.dumps(json).encode()
        return await self._request("POST", path, body, "content-type: application/json\r\n")

    async def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> LeanResponse:
        if params:
            path = f"{path}?{urlencode(params)}"
        return await self._request("GET", path, b"", "")

    async def _request(self, method: str, path: str, body: bytes, extra: str) -> LeanResponse:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(TIMEOUT_S):
            if self._conn is None or self._conn.transport is None:
                _, self._conn = await loop.create_connection(_Connection, self._host, self._port)
            conn = self._conn
            assert conn.transport is not None
            head = f"{method} {path} HTTP/1.1\r\n{self._head}{extra}content-length: {len(body)}"
            conn.waiter = loop.create_future()
            conn.transport.write(head.encode() + b"\r\n\r\n" + body)
            response = await conn.waiter
            if conn.closing:  # (HTTP/1.1 keeps the connection otherwise)
                await self.aclose()
            return response


def make_client(kind: str, base_url: str, headers: Mapping[str, str] | None = None) -> Client:
    if kind == "lean":
        return LeanClient(base_url, headers)
    if kind == "httpx":
        return httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=httpx.Timeout(TIMEOUT_S, connect=10.0),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
    raise ValueError(f"unknown client {kind!r}: lean or httpx")
