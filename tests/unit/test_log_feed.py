"""The shared log feed: every subscriber gets each event after its cursor exactly once and
in order — from an old cursor, while events arrive, and after falling behind — with one log
read per append however many subscribe."""

from __future__ import annotations

import asyncio
import contextlib
from uuid import uuid4

import pytest

from app.adapters.event_store.memory import InMemoryEventStore
from app.adapters.event_store.port import EventMeta, NewEvent
from app.services import log_feed
from app.services.log_feed import LogFeed

META = EventMeta(actor="test")


async def _append(store: InMemoryEventStore, count: int) -> None:
    for _ in range(count):
        await store.append([NewEvent(uuid4(), 1, "test.Happened", b"{}")], META)


async def _collect(feed: LogFeed, after: int, count: int) -> list[int]:
    seen: list[int] = []
    async with contextlib.aclosing(feed.follow(after)) as events:
        async for event in events:
            seen.append(event.position)
            if len(seen) == count:
                break
    return seen


async def test_subscribers_get_each_event_after_their_cursor_once() -> None:
    store = InMemoryEventStore()
    feed = LogFeed(store, poll_seconds=0.05)
    await _append(store, 30)
    old = asyncio.create_task(_collect(feed, 0, 60))  # from the start of the log
    recent = asyncio.create_task(_collect(feed, 25, 35))  # from a recent cursor
    await asyncio.sleep(0.01)
    for _ in range(30):  # more while they follow
        await _append(store, 1)
        await asyncio.sleep(0)
    assert await asyncio.wait_for(old, 5) == list(range(1, 61))
    assert await asyncio.wait_for(recent, 5) == list(range(26, 61))
    await feed.close()


async def test_one_log_read_per_append_however_many_subscribe() -> None:
    store = InMemoryEventStore()
    feed = LogFeed(store, poll_seconds=30)  # only appends wake the feed
    followers = [asyncio.create_task(_collect(feed, 0, 10)) for _ in range(50)]
    await asyncio.sleep(0.01)
    before = feed.reads
    for _ in range(10):
        await _append(store, 1)
        await asyncio.sleep(0.001)
    results = await asyncio.wait_for(asyncio.gather(*followers), 5)
    assert all(r == list(range(1, 11)) for r in results)
    assert feed.reads - before <= 10
    await feed.close()


async def test_a_subscriber_that_falls_behind_misses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(log_feed, "QUEUE_LIMIT", 5)
    store = InMemoryEventStore()
    feed = LogFeed(store, poll_seconds=0.05)
    seen: list[int] = []
    events = feed.follow(0)
    await _append(store, 1)
    seen.append((await anext(events)).position)  # joined and following
    await _append(store, 40)  # far more than its queue holds, while it does not read
    await asyncio.sleep(0.05)
    while len(seen) < 41:
        seen.append((await asyncio.wait_for(anext(events), 5)).position)
    await events.aclose()
    assert seen == list(range(1, 42))
    await feed.close()
