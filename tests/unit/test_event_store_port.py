"""What the event store port tells waiters: any append, or only other processes' ones."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from app.adapters.event_store.memory import InMemoryEventStore
from app.adapters.event_store.port import EventMeta, NewEvent


async def test_waiters_for_news_from_elsewhere_sleep_through_this_process_appends() -> None:
    store = InMemoryEventStore()
    any_news = asyncio.create_task(store.wait_for_append(5))
    elsewhere = asyncio.create_task(store.wait_for_append(5, elsewhere=True))
    await asyncio.sleep(0)
    (recorded,) = await store.record([NewEvent(uuid4(), 1, "t", b"{}")], EventMeta())
    await asyncio.wait_for(any_news, 1)
    await asyncio.sleep(0.01)
    assert not elsewhere.done()
    assert store.highest_appended == store.highest_appended_here == recorded.position

    store.notify_appended(recorded.position + 1)  # as PostgreSQL tells of another's
    await asyncio.wait_for(elsewhere, 1)
    assert store.highest_appended == recorded.position + 1
    assert store.highest_appended_here == recorded.position
