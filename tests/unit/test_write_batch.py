"""WriteBatch: statements grouped into executemany calls, each key's in its order."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from typing import Any

from projections.write_batch import WriteBatch


class Recorder:
    """A Writer that records what reaches the database."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[tuple[Any, ...]]]] = []

    async def execute(self, sql: str, *args: Any) -> None:
        self.sent.append((sql, [args]))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.sent.append((f"many {sql}", [tuple(r) for r in rows]))

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        self.sent.append((f"read {sql}", [args]))
        return [{"n": 1}]

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        return (await self.fetch(sql, *args))[0]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return 1


async def written(*statements: tuple[Hashable | None, str, int]) -> list[Any]:
    db = Recorder()
    batch = WriteBatch(db)
    for key, sql, value in statements:
        batch.key = key
        await batch.execute(sql, value)
    assert db.sent == []  # nothing before the flush
    await batch.flush()
    await batch.flush()  # nothing twice
    return db.sent


async def test_one_statement_of_many_keys_is_one_executemany() -> None:
    sent = await written(("a", "INSERT", 1), ("b", "INSERT", 2), ("c", "INSERT", 3))
    assert sent == [("many INSERT", [(1,), (2,), (3,)])]


async def test_a_lone_statement_is_executed() -> None:
    assert await written(("a", "INSERT", 1)) == [("INSERT", [(1,)])]


async def test_each_keys_statements_keep_their_order() -> None:
    sent = await written(
        ("a", "INSERT", 1),
        ("a", "UPDATE", 2),
        ("b", "INSERT", 3),
        ("a", "UPDATE", 4),
        ("b", "UPDATE", 5),
    )
    assert sent == [("many INSERT", [(1,), (3,)]), ("many UPDATE", [(2,), (4,), (5,)])]


async def test_a_statement_does_not_move_before_its_keys_later_ones() -> None:
    sent = await written(("a", "INSERT", 1), ("a", "DELETE", 2), ("a", "INSERT", 3))
    assert sent == [("INSERT", [(1,)]), ("DELETE", [(2,)]), ("INSERT", [(3,)])]


async def test_a_statement_without_key_is_a_fence() -> None:
    sent = await written(
        ("a", "INSERT", 1),
        (None, "DELETE", 2),
        ("b", "INSERT", 3),
        (None, "DELETE", 4),
        (None, "DELETE", 5),
        ("c", "INSERT", 6),
    )
    assert sent == [
        ("INSERT", [(1,)]),
        ("DELETE", [(2,)]),
        ("INSERT", [(3,)]),
        ("many DELETE", [(4,), (5,)]),
        ("INSERT", [(6,)]),
    ]


async def test_executemany_rows_join_the_group_in_order() -> None:
    db = Recorder()
    batch = WriteBatch(db)
    batch.key = "a"
    await batch.executemany("INSERT", [(1,), (2,)])
    await batch.executemany("INSERT", [])
    batch.key = "b"
    await batch.execute("INSERT", 3)
    await batch.flush()
    assert db.sent == [("many INSERT", [(1,), (2,), (3,)])]


async def test_a_read_sends_what_waits_first_and_waits_for_what_is_being_sent() -> None:
    db = Recorder()
    sending = asyncio.get_running_loop().create_future()
    batch = WriteBatch(db, after=sending)
    batch.key = "a"
    await batch.execute("INSERT", 1)
    reading = asyncio.create_task(batch.fetchrow("SELECT", 2))
    await asyncio.sleep(0)
    assert db.sent == [] and not reading.done()
    sending.set_result(None)
    assert await reading == {"n": 1}
    assert db.sent == [("INSERT", [(1,)]), ("read SELECT", [(2,)])]
    await batch.execute("UPDATE", 3)
    await batch.flush()
    assert db.sent[-1] == ("UPDATE", [(3,)])
