"""Running the app under uvicorn, with a SIGTERM that drains.

On SIGTERM readiness turns false first (``/v2/health/ready`` answers 503, so load balancers
stop sending), requests keep being served for a grace period, then uvicorn stops accepting
connections and waits for in-flight requests, and the lifespan unloads the models.
"""

from __future__ import annotations

import asyncio
import math
import signal
import socket
from dataclasses import dataclass
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from app.http_writes import protocol_class


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Starlette, grace_seconds: float) -> None:
        super().__init__(config)
        self.app_ref = app
        self.grace_seconds = grace_seconds
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._draining or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        container = getattr(self.app_ref.state, "container", None)
        if container is not None:
            container.serving.ready = False
        self._loop.call_soon_threadsafe(
            self._loop.call_later, self.grace_seconds, super().handle_exit, sig, frame
        )


@dataclass(frozen=True)
class HttpLimits:
    """A request's head (request line and headers): its size in bytes (431 past it) and
    the seconds to receive it (408); the seconds an incomplete request body may go without
    a byte arriving (408, or the connection closed once the answer has begun); and the
    seconds an idle keep-alive connection lasts; the largest websocket message (the
    connection is closed with 1009 past it)."""

    max_header_bytes: int
    header_timeout_seconds: float
    body_timeout_seconds: float
    keepalive_timeout_seconds: float
    max_message_bytes: int = 1_000_000


def uvicorn_config(
    app: Starlette, host: str, port: int, *, access_log: bool, limits: HttpLimits
) -> uvicorn.Config:
    # One worker per process: uvicorn --workers leaves Nagle's algorithm on (issue 3149),
    # while asyncio's own transports set TCP_NODELAY on every accepted connection.
    # httptools with each response sent in one write, heads and body silences bounded
    # (app.http_writes), on uvloop when installed (both come with uvicorn[standard]; "auto"
    # picks them).
    http = protocol_class(
        max_header_bytes=limits.max_header_bytes,
        header_timeout_seconds=limits.header_timeout_seconds,
        body_timeout_seconds=limits.body_timeout_seconds,
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        http=http or "auto",
        loop="auto",
        # Without httptools "auto" is h11, whose buffer for an incomplete head is bounded by
        # this (it answers 400 past it); it has no head or body timeout, so a slow head or
        # body holds its connection (the keep-alive timeout counts only between requests).
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_keep_alive=math.ceil(limits.keepalive_timeout_seconds),  # whole seconds
        # uvicorn reads websocket messages up to 16 MiB by default before the app sees them.
        ws_max_size=limits.max_message_bytes,
    )


def run(
    app: Starlette,
    host: str,
    port: int,
    *,
    access_log: bool,
    grace_seconds: float,
    limits: HttpLimits,
) -> None:
    config = uvicorn_config(app, host, port, access_log=access_log, limits=limits)
    DrainingServer(config, app, grace_seconds).run()
