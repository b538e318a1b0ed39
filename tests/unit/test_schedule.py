"""Batch job schedules: cron and period parsing, run times, DST, misfires and run ids."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from domain.errors import ValidationError
from domain.schedule import (
    ConcurrencyPolicy,
    MisfirePolicy,
    Schedule,
    ScheduleKind,
    due_runs,
    parse_schedule,
    run_id,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def cron(expression: str, tz: str = "UTC", start: datetime = EPOCH) -> Schedule:
    return parse_schedule("PERIODIC", expression, start, tz)


def next_times(expression: str, after: datetime, count: int, tz: str = "UTC") -> list[datetime]:
    schedule, found, moment = cron(expression, tz), [], after
    for _ in range(count):
        at = schedule.next_after(moment)
        assert at is not None
        found.append(at)
        moment = at
    return found


def rejected(
    kind: str, expression: str | None, start: datetime = EPOCH, tz: str = "UTC"
) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_schedule(kind, expression, start, tz)
    return caught.value


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 0 * * * *", "5 fields (minute hour day-of-month month day-of-week), got 6"),
        ("0 0 * *", "got 4"),
        ("0", "got 1"),
        ("*/0 * * * *", "minute step in '*/0' must be at least 1"),
        ("0 */0 * * *", "hour step"),
        ("60 * * * *", "minute 60 is out of range (0-59)"),
        ("0 24 * * *", "hour 24 is out of range (0-23)"),
        ("0 0 32 * *", "day-of-month 32 is out of range (1-31)"),
        ("0 0 0 * *", "day-of-month 0 is out of range"),
        ("0 0 * 13 *", "month 13 is out of range (1-12)"),
        ("0 0 * 0 *", "month 0 is out of range"),
        ("0 0 * * 8", "day-of-week 8 is out of range (0-7, 0 and 7 are Sunday)"),
        ("0 0 30 2 *", "February 30 never happens"),
        ("0 0 31 4 *", "April 31 never happens"),
        ("0 0 30,31 FEB *", "February 30, February 31 never happen"),
        ("0 0 31 4,6,9,11 *", "April 31, June 31, September 31, November 31 never happen"),
        ("5-1 * * * *", "range '5-1' goes backwards"),
        ("0 0 * * SAT-SUN", "goes backwards"),
        ("1,,2 * * * *", "empty list item"),
        ("-1 * * * *", "not understood"),
        ("*/x * * * *", "'x' is not a number"),
        ("? * * * *", "not understood"),
        ("0 0 L * *", "not understood"),
        ("0 0 * * MON#2", "not understood"),
        ("0 0 * JANUARY *", "or a name JAN-DEC"),
        ("0 0 * * MON-FRX", "'FRX'"),
        ("0 0 * MON *", "'MON'"),
        ("\u00b2 * * * *", "not understood"),
        ("@reboot", "unknown macro '@reboot'"),
        ("every 30s", "shorter than the minimum period of 1 minute"),
        ("every 59 seconds", "shorter than the minimum"),
        ("every 0m", "shorter than the minimum"),
        ("every 400d", "longer than the maximum of 366 days"),
        ("every 5 fortnights", "unknown unit 'fortnights'"),
        ("every", "is not understood"),
        ("every six hours", "is not understood"),
        ("every 6h and more", "is not understood"),
        ("1 " * 101, "at most 200 characters"),
    ],
)
def test_bad_expressions_are_rejected_with_a_clear_message(expression: str, words: str) -> None:
    error = rejected("PERIODIC", expression)
    assert error.field == "expression"
    assert words in error.message


def test_kind_and_expression_must_agree() -> None:
    assert "needs a cron expression" in rejected("PERIODIC", None).message
    assert "needs a cron expression" in rejected("PERIODIC", "   ").message
    assert "leave the expression empty" in rejected("ONCE", "0 0 * * *").message
    assert rejected("WEEKLY", None).field == "kind"


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "America", "../etc/passwd", "utc"])
def test_unknown_time_zones_are_rejected(tz: str) -> None:
    error = rejected("ONCE", None, tz=tz)
    assert error.field == "timeZone"
    assert "unknown time zone" in error.message


def test_start_must_be_aware_and_in_range() -> None:
    error = rejected("ONCE", None, start=datetime(2026, 1, 1))
    assert error.field == "start"
    assert "no time zone" in error.message
    assert rejected("ONCE", None, start=utc(1969, 12, 31)).field == "start"


@pytest.mark.parametrize(
    ("start", "words"),
    [
        (
            datetime(2026, 3, 8, 2, 30, tzinfo=NY),
            "2026-03-08 02:30 does not exist in America/New_York: clocks jump from"
            " 2026-03-08 02:00 to 03:00 (daylight saving time gap)",
        ),
        (
            datetime(2026, 3, 29, 2, 0, tzinfo=BERLIN),
            "does not exist in Europe/Berlin: clocks jump from 2026-03-29 02:00 to 03:00",
        ),
    ],
)
def test_a_start_inside_a_dst_gap_is_rejected(start: datetime, words: str) -> None:
    error = rejected("PERIODIC", "0 * * * *", start=start, tz=str(start.tzinfo))
    assert error.field == "start"
    assert words in error.message


def test_starts_next_to_a_gap_or_in_a_repeated_hour_are_fine() -> None:
    just_before = parse_schedule("ONCE", None, datetime(2026, 3, 8, 1, 59, tzinfo=NY), "UTC")
    assert just_before.start == utc(2026, 3, 8, 6, 59)
    after = parse_schedule("ONCE", None, datetime(2026, 3, 8, 3, 0, tzinfo=NY), "UTC")
    assert after.start == utc(2026, 3, 8, 7, 0)
    second = datetime(2026, 11, 1, 1, 30, tzinfo=NY, fold=1)
    assert parse_schedule("ONCE", None, second, "America/New_York").start == utc(2026, 11, 1, 6, 30)
    fixed = datetime(2026, 3, 8, 2, 30, tzinfo=timezone(timedelta(hours=-5)))  # a real instant
    assert parse_schedule("ONCE", None, fixed, "America/New_York").start == utc(2026, 3, 8, 7, 30)


# --- cron run times -------------------------------------------------------------------------


def test_fields_are_valid_at_their_limits() -> None:
    assert next_times("59 23 31 12 *", utc(2026, 1, 1), 1) == [utc(2026, 12, 31, 23, 59)]
    assert next_times("0 0 1 1 *", utc(2026, 1, 1), 1) == [utc(2027, 1, 1)]
    assert next_times("0 0 * 1 7", utc(2026, 1, 1), 1) == [utc(2026, 1, 4)]  # a Sunday


def test_steps_and_ranges() -> None:
    assert next_times("*/15 * * * *", utc(2026, 1, 1, 10, 7), 3) == [
        utc(2026, 1, 1, 10, 15),
        utc(2026, 1, 1, 10, 30),
        utc(2026, 1, 1, 10, 45),
    ]
    assert next_times("10-50/10 * * * *", utc(2026, 1, 1, 10, 40), 3) == [
        utc(2026, 1, 1, 10, 50),
        utc(2026, 1, 1, 11, 10),
        utc(2026, 1, 1, 11, 20),
    ]
    assert next_times("0 8-18/4 * * *", utc(2026, 1, 1, 12), 3) == [
        utc(2026, 1, 1, 16),
        utc(2026, 1, 2, 8),
        utc(2026, 1, 2, 12),
    ]
    assert next_times("5/20 * * * *", utc(2026, 1, 1, 10), 3) == [  # 5-59/20
        utc(2026, 1, 1, 10, 5),
        utc(2026, 1, 1, 10, 25),
        utc(2026, 1, 1, 10, 45),
    ]
    assert next_times("0,30 9,17 * * *", utc(2026, 1, 1, 9, 30), 2) == [
        utc(2026, 1, 1, 17),
        utc(2026, 1, 1, 17, 30),
    ]


def test_day_and_month_names() -> None:
    # 2026-01-01 is a Thursday.
    assert next_times("0 9 * * MON-FRI", utc(2026, 1, 2, 9), 2) == [
        utc(2026, 1, 5, 9),
        utc(2026, 1, 6, 9),
    ]
    sundays = [utc(2026, 1, 4), utc(2026, 1, 11)]
    assert next_times("0 0 * * SUN", utc(2026, 1, 1), 2) == sundays
    assert next_times("0 0 * * 7", utc(2026, 1, 1), 2) == sundays
    assert next_times("0 0 * * 0", utc(2026, 1, 1), 2) == sundays
    assert next_times("0 0 1 jan,JUL *", utc(2026, 2, 1), 2) == [utc(2026, 7, 1), utc(2027, 1, 1)]
    assert next_times("0 12 * * fri-7", utc(2026, 1, 1), 3) == [
        utc(2026, 1, 2, 12),
        utc(2026, 1, 3, 12),
        utc(2026, 1, 4, 12),
    ]


def test_either_day_field_matches_when_both_are_restricted() -> None:
    # Fridays or the 13th: Fri 2, Fri 9, Tue 13, Fri 16.
    assert next_times("0 0 13 * FRI", utc(2026, 1, 1), 4) == [
        utc(2026, 1, 2),
        utc(2026, 1, 9),
        utc(2026, 1, 13),
        utc(2026, 1, 16),
    ]
    # Only day-of-week restricted: just Fridays.
    assert next_times("0 0 * * FRI", utc(2026, 1, 1), 2) == [utc(2026, 1, 2), utc(2026, 1, 9)]
    # A field starting with * counts as unrestricted (Vixie cron): odd days that are Fridays.
    assert next_times("0 0 */2 * FRI", utc(2026, 1, 1), 2) == [utc(2026, 1, 9), utc(2026, 1, 23)]
    # February 30 is fine when the day of week can still match: Mondays in February.
    assert next_times("0 0 30 2 MON", utc(2026, 1, 1), 1) == [utc(2026, 2, 2)]


def test_month_ends_and_leap_years() -> None:
    assert next_times("0 0 31 * *", utc(2026, 1, 31), 3) == [
        utc(2026, 3, 31),
        utc(2026, 5, 31),
        utc(2026, 7, 31),
    ]
    assert next_times("0 0 30,31 2,3 *", utc(2026, 1, 1), 2) == [utc(2026, 3, 30), utc(2026, 3, 31)]
    assert next_times("0 0 29 2 *", utc(2026, 1, 1), 2) == [utc(2028, 2, 29), utc(2032, 2, 29)]
    assert next_times("0 0 29 2 *", utc(2096, 3, 1), 1) == [utc(2104, 2, 29)]  # 2100: no leap
    # Feb 29 on a Sunday (*/7 starts with *, so both must match): 28 years apart.
    assert next_times("0 0 29 2 */7", utc(2032, 3, 1), 1) == [utc(2060, 2, 29)]


def test_macros() -> None:
    assert cron("@Daily").expression == "@daily"
    assert next_times("@daily", utc(2026, 1, 1, 5), 1) == [utc(2026, 1, 2)]
    assert next_times("@WEEKLY", utc(2026, 1, 1), 1) == [utc(2026, 1, 4)]
    assert next_times("@hourly", utc(2026, 1, 1, 5, 1), 1) == [utc(2026, 1, 1, 6)]
    assert next_times("@yearly", utc(2026, 1, 1), 1) == [utc(2027, 1, 1)]


def test_cron_fields_are_read_in_the_jobs_zone() -> None:
    assert next_times("0 9 * * *", utc(2026, 1, 1), 1, "Europe/Berlin") == [utc(2026, 1, 1, 8)]
    assert next_times("0 9 * * *", utc(2026, 7, 1), 1, "Europe/Berlin") == [utc(2026, 7, 1, 7)]
    assert next_times("0 0 * * MON", utc(2026, 1, 4, 12), 1, "Asia/Tokyo") == [utc(2026, 1, 4, 15)]


# --- daylight saving time -------------------------------------------------------------------


def test_new_york_spring_forward_runs_a_missing_time_right_after_the_gap() -> None:
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    assert next_times("30 2 * * *", utc(2026, 3, 7), 3, "America/New_York") == [
        utc(2026, 3, 7, 7, 30),
        utc(2026, 3, 8, 7, 0),
        utc(2026, 3, 9, 6, 30),
    ]
    half_hourly = cron("*/30 * * * *", "America/New_York")
    # 02:00 and 02:30 collapse into 03:00, which is also a run: one run there.
    assert list(half_hourly.occurrences(utc(2026, 3, 8, 6), utc(2026, 3, 8, 7, 30))) == [
        utc(2026, 3, 8, 6, 30),
        utc(2026, 3, 8, 7, 0),
        utc(2026, 3, 8, 7, 30),
    ]


def test_new_york_fall_back_runs_a_repeated_time_once() -> None:
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00 UTC); 01:30 happens twice.
    assert next_times("30 1 * * *", utc(2026, 11, 1), 2, "America/New_York") == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ]
    hourly = cron("0 * * * *", "America/New_York")
    assert list(hourly.occurrences(utc(2026, 11, 1, 3, 30), utc(2026, 11, 1, 7, 30))) == [
        utc(2026, 11, 1, 4),  # 00:00 EDT
        utc(2026, 11, 1, 5),  # 01:00 EDT (01:00 EST, 06:00 UTC, is the same wall time)
        utc(2026, 11, 1, 7),  # 02:00 EST
    ]


def test_berlin_spring_forward_and_fall_back() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    assert next_times("30 2 * * *", utc(2026, 3, 28), 3, "Europe/Berlin") == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),
    ]
    both = cron("0 2,3 * * *", "Europe/Berlin")  # 02:00 is missing and lands on 03:00
    assert list(both.occurrences(utc(2026, 3, 28, 12), utc(2026, 3, 30, 0, 30))) == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 0),
    ]
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 runs once, in summer time.
    assert next_times("30 2 * * *", utc(2026, 10, 24, 12), 2, "Europe/Berlin") == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]


def test_periods_are_exact_durations_across_dst() -> None:
    start = datetime(2026, 3, 7, 12, tzinfo=NY)  # 17:00 UTC
    daily = parse_schedule("PERIODIC", "every 1d", start, "America/New_York")
    assert daily.next_after(start) == utc(2026, 3, 8, 17)  # 13:00 EDT: the wall clock moved


# --- periods, ONCE and the first run --------------------------------------------------------


def test_period_runs_from_the_start() -> None:
    start = utc(2026, 1, 1)
    every = parse_schedule("PERIODIC", "every 6h", start, "Europe/Berlin")
    assert every.period == timedelta(hours=6)
    assert list(every.occurrences(None, utc(2026, 1, 2))) == [
        start + timedelta(hours=h) for h in (0, 6, 12, 18, 24)
    ]
    assert every.next_after(start - timedelta(days=3)) == start
    assert every.next_after(start + timedelta(hours=7)) == utc(2026, 1, 1, 12)
    assert every.next_after(start + timedelta(hours=6)) == utc(2026, 1, 1, 12)
    assert list(every.occurrences(utc(2026, 1, 1, 6), utc(2026, 1, 1, 12))) == [utc(2026, 1, 1, 12)]


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("every 30m", timedelta(minutes=30)),
        ("every 2d", timedelta(days=2)),
        ("every 90s", timedelta(seconds=90)),
        ("every 1m", timedelta(minutes=1)),
        ("Every 1h30m", timedelta(minutes=90)),
        ("every 2 hours", timedelta(hours=2)),
        ("every 1 week", timedelta(weeks=1)),
        ("every 366 days", timedelta(days=366)),
    ],
)
def test_period_expressions(text: str, period: timedelta) -> None:
    assert cron(text).period == period


def test_once_runs_at_its_start_only() -> None:
    start = datetime(2026, 6, 1, 9, tzinfo=BERLIN)
    once = parse_schedule(ScheduleKind.ONCE, None, start, "Europe/Berlin")
    assert once.start == utc(2026, 6, 1, 7)
    assert once.start.tzinfo is UTC
    assert list(once.occurrences(None, utc(2030, 1, 1))) == [once.start]
    assert list(once.occurrences(None, utc(2026, 6, 1, 6))) == []
    assert once.next_after(once.start - timedelta(seconds=1)) == once.start
    assert once.next_after(once.start) is None
    assert list(once.occurrences(once.start, utc(2030, 1, 1))) == []


def test_cron_first_run_is_the_start_then_the_cron_times() -> None:
    hourly = cron("0 * * * *", start=utc(2026, 1, 1, 10, 17))
    assert list(hourly.occurrences(None, utc(2026, 1, 1, 12))) == [
        utc(2026, 1, 1, 10, 17),
        utc(2026, 1, 1, 11),
        utc(2026, 1, 1, 12),
    ]
    on_grid = cron("0 * * * *", start=utc(2026, 1, 1, 10))
    assert list(on_grid.occurrences(None, utc(2026, 1, 1, 11))) == [
        utc(2026, 1, 1, 10),
        utc(2026, 1, 1, 11),
    ]
    assert on_grid.next_after(utc(2026, 1, 1, 10)) == utc(2026, 1, 1, 11)


def test_naive_moments_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cron("@daily").next_after(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="until"):
        list(cron("@daily").occurrences(None, datetime(2026, 1, 1)))


# --- misfires -------------------------------------------------------------------------------

START = utc(2026, 1, 1)
HOURLY = parse_schedule("PERIODIC", "every 1h", START, "UTC")


def test_after_ten_missed_periods_run_once_makes_one_catch_up_run() -> None:
    now = START + timedelta(hours=10, minutes=30)  # 01:00 ... 10:00 were missed
    assert due_runs(HOURLY, START, now, MisfirePolicy.RUN_ONCE) == [START + timedelta(hours=10)]
    assert due_runs(HOURLY, START, now, MisfirePolicy.SKIP) == []
    assert HOURLY.next_after(now) == START + timedelta(hours=11)


def test_an_on_time_run_is_created_by_both_policies() -> None:
    now = START + timedelta(hours=10, seconds=20)  # 10:00 is on time, 01:00 ... 09:00 missed
    expected = [START + timedelta(hours=10)]
    assert due_runs(HOURLY, START, now, MisfirePolicy.RUN_ONCE) == expected
    assert due_runs(HOURLY, START, now, MisfirePolicy.SKIP) == expected
    assert due_runs(HOURLY, now, now + timedelta(seconds=5), MisfirePolicy.RUN_ONCE) == []


def test_misfires_before_anything_was_processed_and_with_a_wider_grace() -> None:
    now = START + timedelta(hours=10, minutes=30)
    assert due_runs(HOURLY, None, now, MisfirePolicy.RUN_ONCE) == [START + timedelta(hours=10)]
    assert due_runs(HOURLY, None, now, MisfirePolicy.SKIP) == []
    assert due_runs(HOURLY, None, START - timedelta(hours=1), MisfirePolicy.RUN_ONCE) == []
    assert due_runs(HOURLY, None, START, MisfirePolicy.SKIP) == [START]
    wide = due_runs(HOURLY, START, now, MisfirePolicy.SKIP, grace=timedelta(hours=2))
    assert wide == [START + timedelta(hours=9), START + timedelta(hours=10)]


def test_a_long_outage_of_an_every_minute_cron_is_quick() -> None:
    every_minute = cron("* * * * *", "Europe/Berlin", start=START)
    now, grace = START + timedelta(days=365, seconds=30), timedelta(seconds=10)
    began = time.perf_counter()
    latest = [START + timedelta(days=365)]
    assert due_runs(every_minute, START, now, MisfirePolicy.RUN_ONCE, grace) == latest
    assert due_runs(every_minute, START, now, MisfirePolicy.SKIP, grace) == []
    later = START + timedelta(days=365, minutes=2)  # the default grace is a minute
    assert due_runs(every_minute, START, later, MisfirePolicy.SKIP) == [
        START + timedelta(days=365, minutes=1),
        START + timedelta(days=365, minutes=2),
    ]
    assert time.perf_counter() - began < 1


def test_policies_are_plain_strings() -> None:
    assert MisfirePolicy("RUN_ONCE") is MisfirePolicy.RUN_ONCE
    assert ConcurrencyPolicy("FORBID") is ConcurrencyPolicy.FORBID
    assert json.dumps([MisfirePolicy.SKIP, ConcurrencyPolicy.ALLOW]) == '["SKIP", "ALLOW"]'


# --- run ids and serialization --------------------------------------------------------------

JOB = UUID("12345678-1234-5678-1234-567812345678")


def test_run_ids_are_deterministic() -> None:
    at = utc(2026, 1, 1, 6)
    first = run_id(JOB, at)
    assert first == run_id(JOB, datetime(2026, 1, 1, 7, tzinfo=BERLIN))  # same instant
    assert first == UUID("e0da65ce-8299-5cad-b1f2-b2fb139da9a4")  # must never change
    assert first.version == 5
    assert run_id(JOB, at + timedelta(microseconds=1)) != first
    assert run_id(UUID(int=JOB.int + 1), at) != first
    with pytest.raises(ValueError):
        run_id(JOB, datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "schedule",
    [
        parse_schedule("ONCE", None, datetime(2026, 6, 1, 9, tzinfo=BERLIN), "Europe/Berlin"),
        parse_schedule("PERIODIC", "every  6H", START, "UTC"),
        parse_schedule("periodic", " 0  9 * * mon-fri ", START, "America/New_York"),
    ],
)
def test_schedules_round_trip_through_plain_dicts(schedule: Schedule) -> None:
    data = json.loads(json.dumps(schedule.to_dict()))
    assert Schedule.from_dict(data) == schedule
    assert Schedule.from_dict(data).to_dict() == data


def test_to_dict_is_normalised() -> None:
    assert parse_schedule("periodic", " 0  9 * * mon-fri ", START, "Asia/Tokyo").to_dict() == {
        "kind": "PERIODIC",
        "expression": "0 9 * * mon-fri",
        "start": "2026-01-01T00:00:00+00:00",
        "time_zone": "Asia/Tokyo",
    }


def test_from_dict_rejects_broken_payloads() -> None:
    good = parse_schedule("PERIODIC", "@daily", START, "UTC").to_dict()
    for broken in ({}, {**good, "start": "yesterday"}, {**good, "start": None}):
        with pytest.raises(ValidationError) as caught:
            Schedule.from_dict(broken)
        assert caught.value.field == "schedule"
    with pytest.raises(ValidationError) as caught:
        Schedule.from_dict({**good, "time_zone": "Nowhere/Land"})
    assert caught.value.field == "timeZone"


def test_the_next_run_is_the_start_then_the_one_after_the_last_scheduled() -> None:
    start = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    once = parse_schedule("ONCE", None, start, "UTC")
    assert once.next_run(None) == start
    assert once.next_run(start) is None  # it had its run
    every = parse_schedule("PERIODIC", "every 6h", start, "UTC")
    assert every.next_run(None) == start
    assert every.next_run(start + timedelta(hours=7)) == start + timedelta(hours=12)
