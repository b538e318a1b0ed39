"""The open sessions (websockets) of each API token in this process, closed when the token
changes.

A websocket is authorized once, when it opens, and may then live for days. So each process
tracks its open sessions by token id, and while it has any, one follower of the process's
log feed (app.services.log_feed: one reader of the log per process, woken on PostgreSQL by
the notices of every process's appends) watches for events of ``ApiToken`` aggregates. Any
event of a token after its creation closes that token's sessions: today the only one is
``Revoked``; a later one (a change of role, say) closes them too without a change here, and
the clients' reconnections are authorized afresh.

A session that opens checks the token as recorded in the event store (not the cached lookup
that let it in), after the follower is watching from a position no later than that check:
a revocation is seen by the one or the other, never missed between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.adapters.event_store.port import EventStore, RecordedEvent
from app.services.log_feed import LogFeed
from app.services.tokens import Principal
from domain.token import ApiToken
from projections.audit import split_topic

log = logging.getLogger("modelrepo.sessions")
TOKEN_AGGREGATE = ApiToken.__qualname__
# Whether a token still grants what a principal says (by the event store, not a cache).
StillGrants = Callable[[Principal], Awaitable[bool]]
# Closes one session, giving the reason; must not block (it is called by the follower).
CloseSession = Callable[[str], None]


@dataclass(eq=False)
class Session:
    token_id: str
    close: CloseSession


class TokenSessions:
    def __init__(self, feed: LogFeed, store: EventStore, still_grants: StillGrants) -> None:
        self.feed = feed
        self.store = store
        self.still_grants = still_grants
        self._sessions: dict[str, set[Session]] = {}
        self._follower: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    def __len__(self) -> int:
        return sum(len(sessions) for sessions in self._sessions.values())

    async def open(self, principal: Principal, close: CloseSession) -> Session | None:
        """Track a session of ``principal``'s token until ``release``; None (and nothing
        tracked) when the token no longer grants what the principal says."""
        session = Session(principal.token_id, close)
        self._sessions.setdefault(session.token_id, set()).add(session)
        try:
            await self._follow_log()
            granted = await self.still_grants(principal)
        except BaseException:
            self.release(session)
            raise
        if not granted:
            self.release(session)
            return None
        return session

    def release(self, session: Session) -> None:
        sessions = self._sessions.get(session.token_id)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self._sessions[session.token_id]
        if not self._sessions and self._follower is not None:
            self._follower.cancel()  # nothing to watch: the feed need not read for us
            self._follower = None

    async def _follow_log(self) -> None:
        async with self._starting:
            if self._follower is not None and not self._follower.done():
                return
            # Fixed before the caller checks its token: every later event is followed.
            after = await self.store.last_position()
            if self._sessions:  # all released meanwhile: nothing to follow
                self._follower = asyncio.create_task(self._follow(after))

    async def _follow(self, after: int) -> None:
        while True:
            try:
                async with contextlib.aclosing(self.feed.follow(after)) as events:
                    async for event in events:
                        self._saw(event)
                        after = event.position
            except Exception:  # the feed retries reads itself; this is a bug, so say so
                log.exception("following the event log for token changes failed")
                await asyncio.sleep(self.feed.poll_seconds)

    def _saw(self, event: RecordedEvent) -> None:
        aggregate, name = split_topic(event.topic)
        if aggregate != TOKEN_AGGREGATE or name == "Created":
            return
        sessions = self._sessions.pop(str(event.originator_id), set())
        reason = f"API token {name.lower()}"
        for session in sessions:
            session.close(reason)
        if sessions:
            log.info(
                "closed %d session(s) of token %s: %s", len(sessions), event.originator_id, reason
            )
        if not self._sessions and self._follower is not None:
            self._follower.cancel()
            self._follower = None

    async def close(self) -> None:
        follower, self._follower = self._follower, None
        self._sessions.clear()
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
