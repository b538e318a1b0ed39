"""One reader of the event log per process, fanning new events out to its subscribers.

A subscription that starts at an old cursor first reads the log itself, up to where the
feed was when it joined; from there on the feed hands it each new event once, whatever the
number of subscriptions (one log read per append instead of one per subscriber). A
subscriber that falls too far behind is dropped back to reading the log itself, from its
own position, and rejoins; positions guard the seams, so nothing is missed or repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from app.adapters.event_store.port import EventStore, RecordedEvent

log = logging.getLogger("modelrepo.feed")
BATCH = 500
QUEUE_LIMIT = 10_000
POLL_SECONDS = 1.0


@dataclass(eq=False)
class _Subscriber:
    queue: asyncio.Queue[RecordedEvent] = field(default_factory=asyncio.Queue)
    lagging: bool = False


class LogFeed:
    def __init__(self, store: EventStore, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self._subscribers: set[_Subscriber] = set()
        self._head = 0  # the last position handed to subscribers
        self._task: asyncio.Task[None] | None = None
        self.reads = 0  # log reads by the feed itself (for tests and curiosity)

    async def follow(self, after: int) -> AsyncGenerator[RecordedEvent]:
        """Every event with a position above ``after``, in order, forever."""
        subscriber = _Subscriber()
        await self._join(subscriber)
        position = after
        try:
            while True:
                joined_at = self._head
                subscriber.lagging = False
                # Up to where the feed was when this subscriber (re)joined: from the log.
                while position < joined_at:
                    events = await self.store.read_log(after=position, limit=BATCH)
                    if not events:
                        break
                    for event in events:
                        yield event
                        position = event.position
                # From there on: from the feed.
                while not subscriber.lagging:
                    event = await subscriber.queue.get()
                    if event.position > position:
                        yield event
                        position = event.position
                while not subscriber.queue.empty():  # lagging: read the log instead
                    subscriber.queue.get_nowait()
        finally:
            self._subscribers.discard(subscriber)

    async def _join(self, subscriber: _Subscriber) -> None:
        if self._task is None or self._task.done():
            self._head = await self.store.last_position()
            self._task = asyncio.create_task(self._run())
        self._subscribers.add(subscriber)

    async def _run(self) -> None:
        while self._subscribers:
            self.reads += 1
            try:
                events = await self.store.read_log(after=self._head, limit=BATCH)
            except Exception:  # the database is away: subscribers wait, the feed retries
                log.exception("reading the event log for subscriptions failed")
                await asyncio.sleep(self.poll_seconds)
                continue
            for event in events:
                self._head = event.position
                for subscriber in list(self._subscribers):
                    if subscriber.lagging:
                        continue
                    if subscriber.queue.qsize() >= QUEUE_LIMIT:
                        # It reads the log itself from its own position, then rejoins.
                        subscriber.lagging = True
                    subscriber.queue.put_nowait(event)
            if len(events) < BATCH:
                await self.store.wait_for_append(self.poll_seconds)

    async def close(self) -> None:
        self._subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
