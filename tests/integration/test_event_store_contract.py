"""The event store contract: one abstract test case, run against every adapter.

A subclass provides two fixtures: ``fresh_store`` (an adapter whose tables may not exist
yet) and ``hold_append`` (opens an append transaction on a connection of its own, the way
the adapter does, inserts one event, sets the given asyncio.Event, keeps the transaction
open for HOLD_SECONDS, commits, and returns the event's position).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID, uuid4

import aiosqlite
import asyncpg
import pytest

from app.adapters.event_store import postgres as postgres_store
from app.adapters.event_store.memory import InMemoryEventStore
from app.adapters.event_store.port import (
    ConcurrencyConflict,
    EventMeta,
    EventStore,
    NewEvent,
    RecordedEvent,
)
from app.adapters.event_store.postgres import SCHEMA, PostgresEventStore
from app.adapters.event_store.sqlite import SqliteEventStore, utc_text
from app.adapters.sql.postgres import PostgresDatabase
from app.adapters.sql.sqlite import BUSY_TIMEOUT_MS, SqliteDatabase

HoldAppend = Callable[[NewEvent, asyncio.Event], Awaitable[int]]
HOLD_SECONDS = 2.0
META = EventMeta(actor="tester", request_id="req-1")


def ev(originator_id: UUID, version: int, state: bytes = b"{}") -> NewEvent:
    return NewEvent(originator_id, version, "tests.Happened", state)


def versions(events: Sequence[RecordedEvent]) -> list[int]:
    return [e.originator_version for e in events]


async def follow(store: EventStore, stop: asyncio.Event, seen: list[RecordedEvent]) -> None:
    """Poll the log from the last seen position, as a projection does, until ``stop`` is
    set and a poll made after that finds nothing new."""
    after = 0
    while True:
        stopping = stop.is_set()
        page = await store.read_log(after, limit=100)
        seen.extend(page)
        if page:
            after = page[-1].position
        elif stopping:
            return
        else:
            await asyncio.sleep(0.001)


class EventStoreContract:
    @pytest.fixture
    async def store(self, fresh_store: EventStore) -> EventStore:
        await fresh_store.setup()
        return fresh_store

    async def test_setup_is_idempotent_even_when_concurrent(self, fresh_store: EventStore) -> None:
        await asyncio.gather(*(fresh_store.setup() for _ in range(4)))
        await fresh_store.setup()
        assert await fresh_store.last_position() == 0
        (position,) = await fresh_store.append([ev(uuid4(), 1)], META)
        assert position > 0
        assert await fresh_store.last_position() == position

    async def test_one_of_64_concurrent_appends_at_one_version_wins(
        self, store: EventStore
    ) -> None:
        agg = uuid4()
        await store.append([ev(agg, 1)], META)
        results = await asyncio.gather(
            *(store.append([ev(agg, 2, f"writer {i}".encode())], META) for i in range(64)),
            return_exceptions=True,
        )
        winners = [i for i, r in enumerate(results) if isinstance(r, list)]
        conflicts = [r for r in results if isinstance(r, ConcurrencyConflict)]
        assert len(winners) == 1
        assert len(conflicts) == 63
        history = await store.read_aggregate(agg)
        assert versions(history) == [1, 2]
        assert history[1].state == f"writer {winners[0]}".encode()
        assert [history[1].position] == results[winners[0]]

    async def test_batch_with_one_conflict_writes_nothing(self, store: EventStore) -> None:
        a, b, c, d = uuid4(), uuid4(), uuid4(), uuid4()
        await store.append([ev(a, 1), ev(b, 1)], META)
        log, last = await store.read_log(), await store.last_position()

        with pytest.raises(ConcurrencyConflict):
            await store.append([ev(a, 2), ev(c, 1), ev(b, 1), ev(d, 1)], META)
        with pytest.raises(ConcurrencyConflict):
            await store.append([ev(c, 1), ev(c, 1)], META)  # a conflict within the batch

        assert await store.read_log() == log
        assert await store.last_position() == last
        assert await store.read_aggregate(c) == []
        positions = await store.append([ev(a, 2), ev(c, 1), ev(d, 1)], META)
        assert positions == sorted(positions)
        assert positions[0] > last
        assert len(set(positions)) == 3

    async def test_of_two_racing_overlapping_batches_one_commits_whole(
        self, store: EventStore
    ) -> None:
        x, shared, z = uuid4(), uuid4(), uuid4()
        first, second = await asyncio.gather(
            store.append([ev(x, 1), ev(shared, 1, b"first")], META),
            store.append([ev(shared, 1, b"second"), ev(z, 1)], META),
            return_exceptions=True,
        )
        (winner,) = [r for r in (first, second) if isinstance(r, list)]
        assert isinstance(second if winner is first else first, ConcurrencyConflict)
        (claimed,) = await store.read_aggregate(shared)
        assert claimed.state == (b"first" if winner is first else b"second")
        assert len(await store.read_aggregate(x if winner is second else z)) == 0
        assert [e.position for e in await store.read_log()] == winner

    async def test_empty_append_changes_nothing(self, store: EventStore) -> None:
        assert await store.append([], META) == []
        assert await store.last_position() == 0
        await store.append([ev(uuid4(), 1)], META)
        log, last = await store.read_log(), await store.last_position()
        assert await store.append([], META) == []
        assert await store.read_log() == log
        assert await store.last_position() == last

    async def test_read_log_pages_by_position(self, store: EventStore) -> None:
        agg = uuid4()
        positions = await store.append([ev(agg, v) for v in range(1, 11)], META)
        assert positions == sorted(set(positions))
        page = await store.read_log(after=positions[2], limit=4)
        assert [e.position for e in page] == positions[3:7]
        assert await store.read_log(after=positions[-1]) == []
        assert await store.last_position() == positions[-1]

    async def test_follower_sees_every_event_once_in_order(self, store: EventStore) -> None:
        seen: list[RecordedEvent] = []
        stop = asyncio.Event()
        follower = asyncio.create_task(follow(store, stop, seen))

        async def writer() -> list[int]:
            agg, positions = uuid4(), []
            for version in range(1, 51):
                positions += await store.append([ev(agg, version)], META)
                await asyncio.sleep(0)
            return positions

        written = await asyncio.gather(*(writer() for _ in range(8)))
        stop.set()
        await follower

        for positions in written:
            assert positions == sorted(positions)
        everything = sorted(p for positions in written for p in positions)
        assert len(set(everything)) == 8 * 50
        assert [e.position for e in seen] == everything
        times = [e.recorded_at for e in seen]
        assert times == sorted(times)

    async def test_appends_behind_a_held_transaction_land_after_it(
        self, store: EventStore, hold_append: HoldAppend
    ) -> None:
        seen: list[RecordedEvent] = []
        stop, locked, first_append = asyncio.Event(), asyncio.Event(), asyncio.Event()
        follower = asyncio.create_task(follow(store, stop, seen))
        appends: list[tuple[bool, list[int]]] = []  # (started while held, positions)

        async def writer() -> None:
            agg = uuid4()
            for version in range(1, 21):
                started_while_held = locked.is_set()
                appends.append((started_while_held, await store.append([ev(agg, version)], META)))
                first_append.set()
                await asyncio.sleep(0.01)

        writers = asyncio.gather(*(writer() for _ in range(8)))
        await first_append.wait()
        held = ev(uuid4(), 1, b"held")
        held_position = await hold_append(held, locked)
        await writers
        stop.set()
        await follower

        later = [p for started_while_held, ps in appends if started_while_held for p in ps]
        assert later, "no append was attempted while the transaction was held"
        assert min(later) > held_position
        everything = sorted([held_position, *(p for _, ps in appends for p in ps)])
        assert [e.position for e in seen] == everything
        assert next(e for e in seen if e.position == held_position).state == b"held"

    async def test_100k_events_read_back_in_order(self, store: EventStore) -> None:
        aggregates = [uuid4() for _ in range(1000)]
        positions: list[int] = []
        for version in range(1, 101):
            positions += await store.append([ev(a, version, b"x") for a in aggregates], META)
        assert len(positions) == 100_000
        assert all(p < q for p, q in itertools.pairwise(positions))

        seen: list[RecordedEvent] = []
        while page := await store.read_log(seen[-1].position if seen else 0, limit=5000):
            seen.extend(page)
        assert [e.position for e in seen] == positions
        expected = [(a, v) for v in range(1, 101) for a in aggregates]
        assert [(e.originator_id, e.originator_version) for e in seen] == expected
        assert await store.last_position() == positions[-1]

    async def test_metadata_and_recorded_time_round_trip(self, store: EventStore) -> None:
        agg, state = uuid4(), bytes(range(256))
        alice = EventMeta(actor="alice", request_id="req-42", reason="fix the typo")
        bob = EventMeta(actor="bob", request_id="req-43")
        before = datetime.now(UTC)
        await store.append([NewEvent(agg, 1, "tests.Renamed", state)], alice)
        await store.append([ev(agg, 2), ev(agg, 3)], bob)

        events = await store.read_aggregate(agg)
        assert [e.meta for e in events] == [alice, bob, bob]
        assert (events[0].topic, events[0].state) == ("tests.Renamed", state)
        for event in events:
            assert event.recorded_at.utcoffset() == timedelta(0)
            assert abs(event.recorded_at - before) < timedelta(minutes=1)
        assert events[0].recorded_at <= events[1].recorded_at == events[2].recorded_at
        assert [e.position for e in events] == sorted(e.position for e in events)

    async def test_record_returns_the_events_as_the_log_holds_them(self, store: EventStore) -> None:
        agg = uuid4()
        await store.append([ev(agg, 1)], META)
        recorded = await store.record([ev(agg, 2, b"two"), ev(uuid4(), 1)], META)
        assert recorded == (await store.read_log(after=recorded[0].position - 1))
        assert store.highest_appended == store.highest_appended_here == recorded[-1].position
        assert await store.record([], META) == []

    async def test_read_aggregate_after_version_and_until(self, store: EventStore) -> None:
        agg, other = uuid4(), uuid4()
        for version in range(1, 4):
            await store.append([ev(agg, version), ev(other, version)], META)
            await asyncio.sleep(0.01)  # so that each append has its own recorded time
        events = await store.read_aggregate(agg)
        assert versions(events) == [1, 2, 3]
        assert all(e.originator_id == agg for e in events)
        mid = events[1].recorded_at + (events[2].recorded_at - events[1].recorded_at) / 2

        async def read(
            after_version: int | None = None, until: datetime | None = None
        ) -> list[int]:
            found = await store.read_aggregate(agg, after_version=after_version, until=until)
            return versions(found)

        assert await read(until=mid) == [1, 2]
        assert await read(until=mid.astimezone(timezone(timedelta(hours=-5)))) == [1, 2]
        assert await read(until=events[1].recorded_at) == [1, 2]
        assert await read(until=events[0].recorded_at - timedelta(seconds=1)) == []
        assert await read(after_version=1) == [2, 3]
        assert await read(after_version=1, until=mid) == [2]
        assert await read(after_version=3) == []
        assert await store.read_aggregate(uuid4()) == []
        with pytest.raises(ValueError, match="timezone"):
            await store.read_aggregate(agg, until=datetime.now())

    async def test_snapshots(self, store: EventStore) -> None:
        agg = uuid4()
        assert await store.latest_snapshot(agg) is None
        for version in (5, 10, 7):
            await store.write_snapshot(NewEvent(agg, version, "tests.Snap", f"s{version}".encode()))
        assert await store.latest_snapshot(agg) == NewEvent(agg, 10, "tests.Snap", b"s10")
        await store.write_snapshot(NewEvent(agg, 10, "tests.Snap2", b"again"))
        assert await store.latest_snapshot(agg) == NewEvent(agg, 10, "tests.Snap2", b"again")
        assert await store.latest_snapshot(uuid4()) is None
        assert await store.last_position() == 0


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def fresh_store(self) -> EventStore:
        return InMemoryEventStore()

    @pytest.fixture
    def hold_append(self) -> HoldAppend:
        pytest.skip("the fake has no transactions to hold open across connections")


class TestSqliteEventStore(EventStoreContract):
    @pytest.fixture
    def fresh_store(self, sqlite_database: SqliteDatabase) -> EventStore:
        return SqliteEventStore(sqlite_database)

    @pytest.fixture
    def hold_append(self, sqlite_database: SqliteDatabase) -> HoldAppend:
        async def hold(event: NewEvent, locked: asyncio.Event) -> int:
            async with aiosqlite.connect(sqlite_database.path, isolation_level=None) as conn:
                await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                await conn.execute("BEGIN IMMEDIATE")
                async with conn.execute(
                    "INSERT INTO events (originator_id, originator_version, topic, state, "
                    "recorded_at, actor, request_id, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING position",
                    (
                        str(event.originator_id),
                        event.originator_version,
                        event.topic,
                        event.state,
                        utc_text(datetime.now(UTC)),
                        "holder",
                        "",
                        None,
                    ),
                ) as cursor:
                    ((position,),) = await cursor.fetchall()
                locked.set()
                await asyncio.sleep(HOLD_SECONDS)
                await conn.execute("COMMIT")
            return int(position)

        return hold

    async def test_processes_share_one_file(self, sqlite_database: SqliteDatabase) -> None:
        shared, processes = uuid4(), 4
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _PROCESS_SCRIPT,
                sqlite_database.url,
                str(shared),
                cwd=Path(__file__).parents[2],
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(processes)
        ]
        wins = 0
        for child in children:
            out, err = await child.communicate()
            assert child.returncode == 0, err.decode()
            wins += int(out)
        store = SqliteEventStore(sqlite_database)
        assert wins == 25
        assert versions(await store.read_aggregate(shared)) == list(range(1, 26))
        positions = [e.position for e in await store.read_log(limit=1000)]
        assert len(positions) == processes * 25 + 25
        assert positions == sorted(set(positions))


# Each child sets the store up and appends 25 events to an aggregate of its own, racing
# the others for each of versions 1..25 of a shared one; it prints how many it won.
_PROCESS_SCRIPT = """
import asyncio, sys, uuid
from app.adapters.event_store.port import ConcurrencyConflict, EventMeta, NewEvent
from app.adapters.event_store.sqlite import SqliteEventStore
from app.adapters.sql.sqlite import SqliteDatabase

async def main(url, shared):
    db = SqliteDatabase(url)
    await db.open()
    try:
        store = SqliteEventStore(db)
        await store.setup()
        own, wins = uuid.uuid4(), 0
        for version in range(1, 26):
            await store.append([NewEvent(own, version, "t", b"")], EventMeta())
            try:
                await store.append([NewEvent(shared, version, "t", b"")], EventMeta())
                wins += 1
            except ConcurrencyConflict:
                pass
        print(wins)
    finally:
        await db.close()

asyncio.run(main(sys.argv[1], uuid.UUID(sys.argv[2])))
"""


async def until_alone(store: PostgresEventStore) -> None:
    """Wait (each wait looks, the first also starts listening) until the store sees no
    other process's listener: a closed one's server process may linger a moment."""
    async with asyncio.timeout(10):
        while True:
            await store.wait_for_append(0.01)
            if not store.others_listening:
                return


@pytest.mark.postgres
class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def fresh_store(self, pg_database: PostgresDatabase) -> EventStore:
        return PostgresEventStore(pg_database)

    @pytest.fixture
    def hold_append(self, pg_database: PostgresDatabase) -> HoldAppend:
        async def hold(event: NewEvent, locked: asyncio.Event) -> int:
            conn = await asyncpg.connect(pg_database.url)
            try:
                async with conn.transaction():
                    await conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
                    position: int = await conn.fetchval(
                        "INSERT INTO events (originator_id, originator_version, topic, state, "
                        "recorded_at, actor, request_id, reason) "
                        "VALUES ($1, $2, $3, $4, clock_timestamp(), 'holder', '', NULL) "
                        "RETURNING position",
                        event.originator_id,
                        event.originator_version,
                        event.topic,
                        event.state,
                    )
                    locked.set()
                    await asyncio.sleep(HOLD_SECONDS)
            finally:
                await conn.close()
            return position

        return hold

    async def test_setup_replaces_the_append_function_of_an_older_version(
        self, pg_database: PostgresDatabase
    ) -> None:
        # Before the append returned positions and times, it returned SETOF BIGINT.
        async with pg_database.pool.acquire() as conn:
            for statement in SCHEMA:
                await conn.execute(statement)
            await conn.execute(
                "CREATE FUNCTION events_append(p_ids UUID[], p_versions INTEGER[],"
                " p_topics TEXT[], p_states BYTEA[], p_actor TEXT, p_request_id TEXT,"
                " p_reason TEXT) RETURNS SETOF BIGINT LANGUAGE sql AS 'SELECT 1::bigint'"
            )
        store = PostgresEventStore(pg_database)
        await store.setup()
        recorded = await store.record([ev(uuid4(), 1)], META)
        assert recorded == await store.read_log()

    async def test_notices_tell_this_process_appends_from_others(
        self, pg_database: PostgresDatabase
    ) -> None:
        """Told by the sending connection: a notice may overtake the append's own reply."""
        store = PostgresEventStore(pg_database)
        await store.setup()
        # Another store object on the same pool: only the notice tells ``store``.
        sibling = PostgresEventStore(pg_database)
        other_db = PostgresDatabase(pg_database.url)
        await other_db.open()

        async def heard(position: int) -> None:
            async with asyncio.timeout(10):
                while store.highest_appended < position:
                    await store.wait_for_append(1.0)

        try:
            await store.wait_for_append(0.01)  # starts listening
            (own,) = await sibling.record([ev(uuid4(), 1)], META)
            await heard(own.position)
            assert store.highest_appended_here == own.position
            (theirs,) = await PostgresEventStore(other_db).record([ev(uuid4(), 1)], META)
            await heard(theirs.position)
            assert store.highest_appended_here == own.position
        finally:
            await other_db.close()
            await store.close()

    @pytest.fixture
    async def checking_store(
        self, pg_database: PostgresDatabase, monkeypatch: pytest.MonkeyPatch
    ) -> AsyncIterator[PostgresEventStore]:
        """A store that looks for other processes' listeners on every wait."""
        monkeypatch.setattr(postgres_store, "LISTENERS_CHECK_SECONDS", 0.0)
        store = PostgresEventStore(pg_database)
        await store.setup()
        try:
            yield store
        finally:
            await store.close()

    async def test_appends_in_one_message_notify_only_while_another_process_listens(
        self, pg_database: PostgresDatabase, checking_store: PostgresEventStore
    ) -> None:
        store = checking_store
        heard: asyncio.Queue[str] = asyncio.Queue()

        async def listen(application_name: str) -> asyncpg.Connection:
            conn = await asyncpg.connect(
                pg_database.url, server_settings={"application_name": application_name}
            )
            await conn.add_listener("modelrepo_events", lambda *a: heard.put_nowait(a[-1]))
            return conn

        async def append_in_one_message() -> int:
            async with store.appending_transaction() as tx:
                (recorded,) = await store.append_within(tx, [ev(uuid4(), 1)], META)
            return recorded.position

        # A plain LISTEN (no modelrepo process's listener) does not count, but hears all.
        bystander = await listen("psql")
        other: asyncpg.Connection | None = None
        try:
            await until_alone(store)
            await append_in_one_message()
            await asyncio.sleep(0.3)
            assert heard.empty()

            other = await listen(postgres_store.LISTENER_APPLICATION)  # another process
            await store.wait_for_append(0.01)
            assert store.others_listening is True
            position = await append_in_one_message()
            async with asyncio.timeout(10):
                assert {await heard.get(), await heard.get()} == {str(position)}

            await other.close()
            other = None
            await until_alone(store)
            # The usual append always notifies (it may run in a process that never
            # listens, which cannot know).
            (recorded,) = await store.record([ev(uuid4(), 1)], META)
            async with asyncio.timeout(10):
                assert await heard.get() == str(recorded.position)
        finally:
            for conn in (bystander, other):
                if conn is not None:
                    await conn.close()

    async def test_a_failed_look_for_listeners_keeps_notifying(
        self, checking_store: PostgresEventStore
    ) -> None:
        store = checking_store
        await until_alone(store)
        assert store._listener is not None
        await store._listener.close()  # the lookup now fails: notify, to be safe
        await store.wait_for_append(0.01)
        assert store.others_listening is True
