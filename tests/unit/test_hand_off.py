"""HandOff: rows a projection hands to the command that caused them."""

from __future__ import annotations

from projections.base import HandOff


def settled(hand_off: HandOff[str, int], **rows: int) -> None:
    for key, value in rows.items():
        hand_off.put(key, value)
    hand_off.settle(committed=True)


def test_an_entry_is_taken_once() -> None:
    hand_off: HandOff[str, int] = HandOff(4)
    settled(hand_off, a=1)
    assert hand_off.take("a") == 1
    assert hand_off.take("a") is None
    assert hand_off.take("never") is None


def test_a_row_is_kept_only_once_its_transaction_committed() -> None:
    hand_off: HandOff[str, int] = HandOff(4)
    hand_off.put("a", 1)
    assert hand_off.take("a") is None  # pending
    hand_off.settle(committed=False)
    hand_off.settle(committed=True)
    assert hand_off.take("a") is None  # rolled back: forgotten
    settled(hand_off, a=2)
    assert hand_off.take("a") == 2


def test_a_dropped_entry_is_gone() -> None:
    hand_off: HandOff[str, int] = HandOff(4)
    settled(hand_off, a=1)
    hand_off.put("b", 2)
    for key in ("a", "b", "absent"):
        hand_off.drop(key)
    hand_off.settle(committed=True)
    assert hand_off.take("a") is None and hand_off.take("b") is None


def test_entries_nobody_takes_fall_out_oldest_first() -> None:
    hand_off: HandOff[str, int] = HandOff(3)
    for i, key in enumerate("abcd"):
        settled(hand_off, **{key: i})
    settled(hand_off, b=10)  # put again: newest now
    settled(hand_off, e=4)
    assert len(hand_off) == 3
    assert [hand_off.take(k) for k in "abcde"] == [None, 10, None, 3, 4]
