"""HandOff: rows a projection hands to the command that caused them."""

from __future__ import annotations

from projections.base import HandOff


def test_an_entry_is_taken_once() -> None:
    hand_off: HandOff[str, int] = HandOff(4)
    hand_off.put("a", 1)
    assert hand_off.take("a") == 1
    assert hand_off.take("a") is None
    assert hand_off.take("never") is None


def test_a_dropped_entry_is_gone() -> None:
    hand_off: HandOff[str, int] = HandOff(4)
    hand_off.put("a", 1)
    hand_off.drop("a")
    hand_off.drop("absent")
    assert hand_off.take("a") is None


def test_entries_nobody_takes_fall_out_oldest_first() -> None:
    hand_off: HandOff[str, int] = HandOff(3)
    for i, key in enumerate("abcd"):
        hand_off.put(key, i)
    hand_off.put("b", 10)  # put again: newest now
    hand_off.put("e", 4)
    assert len(hand_off) == 3
    assert [hand_off.take(k) for k in "abcde"] == [None, 10, None, 3, 4]
