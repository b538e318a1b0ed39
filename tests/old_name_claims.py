"""A store as the code before NameClaim wrote it: the stored events and snapshots of
``old_name_claims.json`` (ModelName and ServiceName claims among models, versions and
services), written into a database the way its event store records them."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from app.adapters.event_store.port import EventMeta, NewEvent
from app.bootstrap import open_database

_FIXTURE: dict[str, Any] = json.loads(
    Path(__file__).with_name("old_name_claims.json").read_text(encoding="utf-8")
)


def _new_event(stored: dict[str, Any]) -> NewEvent:
    return NewEvent(
        originator_id=UUID(stored["originator_id"]),
        originator_version=stored["originator_version"],
        topic=stored["topic"],
        state=stored["state"].encode(),
    )


@dataclass(frozen=True, slots=True)
class OldStore:
    # When each command's events were recorded (the last of them), by the command's label.
    recorded: dict[str, datetime]

    @staticmethod
    def originator(command: str, topic: str) -> str:
        """The aggregate id of the event with ``topic`` that ``command`` recorded."""
        append = next(a for a in _FIXTURE["appends"] if a["command"] == command)
        return str(next(e["originator_id"] for e in append["events"] if e["topic"] == topic))


async def write_old_store(database_url: str) -> OldStore:
    """Record the fixture's appends one by one, then its snapshots."""
    db, store = open_database(database_url)
    await db.open()
    try:
        await store.setup()
        recorded = {}
        meta = EventMeta(actor="before-name-claim")
        for append in _FIXTURE["appends"]:
            events = await store.record([_new_event(e) for e in append["events"]], meta)
            recorded[append["command"]] = events[-1].recorded_at
            await asyncio.sleep(0.005)  # each command at a moment of its own
        for snapshot in _FIXTURE["snapshots"]:
            await store.write_snapshot(_new_event(snapshot))
    finally:
        await store.close()
        await db.close()
    return OldStore(recorded)
