"""Running the app under uvicorn, with a SIGTERM that drains.

On SIGTERM readiness turns false first (``/v2/health/ready`` answers 503, so load balancers
stop sending), requests keep being served for a grace period, then uvicorn stops accepting
connections and waits for in-flight requests, and the lifespan unloads the models.
"""

from __future__ import annotations

import asyncio
import signal
import socket
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


def run(app: Starlette, host: str, port: int, *, access_log: bool, grace_seconds: float) -> None:
    # One worker per process: uvicorn --workers leaves Nagle's algorithm on (issue 3149),
    # while asyncio's own transports set TCP_NODELAY on every accepted connection.
    # httptools with each response sent in one write (app.http_writes), on uvloop when
    # installed (both come with uvicorn[standard]; "auto" picks them).
    http = protocol_class() or "auto"
    config = uvicorn.Config(
        app, host=host, port=port, access_log=access_log, http=http, loop="auto"
    )
    DrainingServer(config, app, grace_seconds).run()
