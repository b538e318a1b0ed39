"""A websocket's ASGI channel, tracked under its API token and closed from outside (4403)
when the token is revoked or changed (app.services.token_sessions).

The close is done at the ASGI level, beneath strawberry: the close frame goes to the
client, later sends of the app (a subscription's next event) are dropped, and the app's
next receive gets a disconnect, so strawberry ends the connection's operations as when a
client leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.types import Message, Receive, Send

from app.services.token_sessions import Session, TokenSessions
from app.services.tokens import Principal

log = logging.getLogger("modelrepo.sessions")
CLOSE_CODE = 4403  # graphql-transport-ws's Forbidden


class TokenSocket:
    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._session: Session | None = None
        self._sessions: TokenSessions | None = None
        self._connected = False  # the app has received websocket.connect
        self._finished = False  # a close was sent (by the app or by us)
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closing: asyncio.Task[None] | None = None
        self._pending: asyncio.Future[Message] | None = None
        self._sending = asyncio.Lock()

    async def watch(self, sessions: TokenSessions, principal: Principal) -> bool:
        """Track the socket under ``principal``'s token; False when the token no longer
        grants what the principal says (checked in the event store): refuse the socket."""
        if self._session is not None:
            return True
        session = await sessions.open(principal, self.close)
        if session is None:
            return False
        self._session, self._sessions = session, sessions
        return True

    def close(self, reason: str) -> None:
        """Close the socket with 4403 and ``reason``; returns at once."""
        if self._finished or self._closing is not None:
            return
        self._closed.set_result(None)
        self._closing = asyncio.create_task(self._send_close(reason))

    async def _send_close(self, reason: str) -> None:
        async with self._sending:
            if not self._finished:
                self._finished = True
                await self._send({"type": "websocket.close", "code": CLOSE_CODE, "reason": reason})

    async def send(self, message: Message) -> None:
        async with self._sending:
            if self._finished:
                return  # closed under the app: what it still sends goes nowhere
            self._finished = message["type"] == "websocket.close"
            await self._send(message)

    async def receive(self) -> Message:
        if not self._connected:  # websocket.connect, which the app must get first
            self._connected = True
            return await self._receive()
        if not self._closed.done():
            if self._pending is None:
                # Kept across calls, so a cancelled receive loses no message.
                self._pending = asyncio.ensure_future(self._receive())
            await asyncio.wait((self._pending, self._closed), return_when=asyncio.FIRST_COMPLETED)
            if self._pending.done():
                pending, self._pending = self._pending, None
                return pending.result()
        return {"type": "websocket.disconnect", "code": CLOSE_CODE}

    async def finish(self) -> None:
        """Stop tracking the socket; after the app is done with it."""
        if self._session is not None and self._sessions is not None:
            self._sessions.release(self._session)
            self._session = None
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pending
        if self._closing is not None:
            try:
                await self._closing
            except Exception:  # the client went away first
                log.debug("closing a websocket failed", exc_info=True)
