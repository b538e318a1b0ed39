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

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        self.sent.append((f"load {table} {','.join(columns)}", [tuple(r) for r in rows]))

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


async def test_inserted_rows_are_loaded_together_in_each_keys_order() -> None:
    db = Recorder()
    batch = WriteBatch(db)
    for key, value in (("a", 1), ("b", 2), ("a", 3)):
        batch.key = key
        await batch.insert_rows("t", ("k", "v"), [(key, value)])
        if value == 2:
            await batch.execute("UPDATE", value)
    batch.key = "c"
    await batch.insert_rows("t", ("k", "v"), [])
    await batch.flush()
    assert db.sent == [("load t k,v", [("a", 1), ("b", 2), ("a", 3)]), ("UPDATE", [(2,)])]


def add_up(sql: str, earlier: Sequence[Any], later: Sequence[Any]) -> Sequence[Any] | None:
    """Merges ADD statements: (key, amount) -> (key, sum)."""
    return (earlier[0], earlier[1] + later[1]) if sql == "ADD" else None


async def merged(*statements: tuple[Hashable | None, str, int]) -> list[Any]:
    db = Recorder()
    batch = WriteBatch(db, merge=add_up)
    for key, sql, value in statements:
        batch.key = key
        await batch.execute(sql, key, value)
    await batch.flush()
    return db.sent


async def test_a_keys_statements_one_after_the_other_are_merged() -> None:
    sent = await merged(("a", "ADD", 1), ("b", "ADD", 10), ("a", "ADD", 2), ("a", "ADD", 3))
    assert sent == [("many ADD", [("a", 6), ("b", 10)])]


async def test_statements_apart_or_unmergeable_are_not_merged() -> None:
    sent = await merged(
        ("a", "ADD", 1),
        ("a", "SET", 5),  # between two ADDs of its key
        ("a", "ADD", 2),
        ("b", "SET", 1),
        ("b", "SET", 2),  # the projection does not merge SET
        ("c", "ADD", 1),
        (None, "FENCE", 0),
        ("c", "ADD", 2),  # after a statement without key
    )
    assert sent == [
        ("ADD", [("a", 1)]),
        ("many SET", [("a", 5), ("b", 1), ("b", 2)]),
        ("many ADD", [("a", 2), ("c", 1)]),
        ("FENCE", [(None, 0)]),
        ("ADD", [("c", 2)]),
    ]


async def test_a_keys_rows_given_together_are_not_merged_into() -> None:
    db = Recorder()
    batch = WriteBatch(db, merge=add_up)
    batch.key = "a"
    await batch.execute("ADD", "a", 1)
    await batch.executemany("ADD", [("a", 2), ("a", 3)])
    await batch.execute("ADD", "a", 4)
    await batch.flush()
    assert db.sent == [("many ADD", [("a", 1), ("a", 2), ("a", 3), ("a", 4)])]
