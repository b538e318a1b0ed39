"""When a batch job runs: its schedule, misfire and concurrency policies, and run ids.

A schedule is ONCE (one run, at its start time) or PERIODIC, with either a 5-field cron
expression (see ``domain.cron``; fields are evaluated in the job's IANA time zone) or a
period such as ``every 6h``, ``every 30m``, ``every 2d``, ``every 1h30m`` (units s, m, h, d,
w; at least 1 minute, at most 366 days).

The first run is at the start time. After it:

- a period schedule runs at start + p, start + 2p, ... Periods are exact durations in UTC,
  not wall-clock: ``every 1d`` moves by an hour in local time across a DST change (use a
  cron expression such as ``0 6 * * *`` for a fixed local time);
- a cron schedule runs at every cron time strictly after the start, even when the start
  itself is not a cron time. DST: a cron time inside a spring-forward gap runs at the first
  valid instant after the gap; a time repeated by a fall-back runs once (its first
  occurrence), so an every-15-minutes cron gets no runs during the repeated hour.

All run times are aware datetimes in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.cron import CronExpression, gap_around, parse_cron
from domain.errors import ValidationError

MIN_PERIOD = timedelta(minutes=1)
MAX_PERIOD = timedelta(days=366)
DEFAULT_MISFIRE_GRACE = timedelta(minutes=1)
EXPRESSION_MAX = 200
FIRST_YEAR, LAST_YEAR = 1970, 9000
RUN_NAMESPACE = UUID("6f1d3c52-4f1e-5b8e-9a39-1f4a0c2b7d10")  # fixed forever: run ids depend on it
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNIT_WORDS = {"sec": "s", "second": "s", "min": "m", "minute": "m", "hr": "h", "hour": "h"}
_UNIT_WORDS |= {"day": "d", "week": "w"}
_PERIOD_PART = re.compile(r"([0-9]{1,9})\s*([a-z]+)")


class ScheduleKind(StrEnum):
    ONCE = "ONCE"
    PERIODIC = "PERIODIC"


class MisfirePolicy(StrEnum):
    """What to do with run times missed while no scheduler was running (see ``due_runs``).

    RUN_ONCE: one catch-up run, for the latest missed time; the other missed times are
    skipped. SKIP: skip every missed time and wait for the next one.
    """

    RUN_ONCE = "RUN_ONCE"
    SKIP = "SKIP"


class ConcurrencyPolicy(StrEnum):
    """Whether a run may start while an earlier run of the same job is still RUNNING.

    FORBID: the new run waits (stays PENDING) until the earlier one finishes. ALLOW: runs
    may overlap. The scheduler and workers apply it; the schedule itself does not.
    """

    FORBID = "FORBID"
    ALLOW = "ALLOW"


@dataclass(frozen=True)
class Schedule:
    """Build with ``parse_schedule`` (or ``from_dict``), which checks everything."""

    kind: ScheduleKind
    expression: str | None
    start: datetime  # aware, UTC
    time_zone: str
    period: timedelta | None = None
    cron: CronExpression | None = field(default=None, repr=False, compare=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def occurrences(self, after: datetime | None, until: datetime) -> Iterator[datetime]:
        """Run times ``t`` with ``after < t <= until`` in order; ``after=None``: from the start."""
        end = _utc(until, "until")
        for at in self._runs(None if after is None else _utc(after, "after")):
            if at > end:
                return
            yield at

    def next_after(self, moment: datetime) -> datetime | None:
        """The first run time strictly after ``moment`` (None: a ONCE job that already ran)."""
        return next(self._runs(_utc(moment, "moment")), None)

    def next_run(self, last_scheduled: datetime | None) -> datetime | None:
        """When the next run is due: the start, or the first run time after the last one
        scheduled (None: a ONCE job that has had its run)."""
        return self.start if last_scheduled is None else self.next_after(last_scheduled)

    def latest(self, after: datetime | None, until: datetime) -> datetime | None:
        """The last run time ``t`` with ``after < t <= until`` (None: there is none)."""
        low, end = (None if after is None else _utc(after, "after")), _utc(until, "until")
        span = timedelta(days=1)
        while True:
            since: datetime | None = end - span if end - span > self.start else None
            if since is None or (low is not None and since <= low):
                since = low
            found = max(self.occurrences(since, end), default=None)  # they come in order
            if found is not None or since == low:
                return found
            span *= 4

    def _runs(self, after: datetime | None) -> Iterator[datetime]:
        if after is None or after < self.start:
            yield self.start
            after = self.start
        if self.period is not None:
            at = self.start + ((after - self.start) // self.period + 1) * self.period
            try:
                while True:
                    yield at
                    at += self.period
            except OverflowError:
                return
        elif self.cron is not None:
            yield from self.cron.instants(self.zone, after)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "expression": self.expression,
            "start": self.start.isoformat(),
            "time_zone": self.time_zone,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        try:
            kind, start, tz = data["kind"], datetime.fromisoformat(data["start"]), data["time_zone"]
        except (KeyError, TypeError, ValueError) as error:
            raise ValidationError("schedule", f"not a stored schedule: {error!r}") from None
        return parse_schedule(kind, data.get("expression"), start, tz)


def parse_schedule(
    kind: ScheduleKind | str, expression: str | None, start: datetime, tz: str
) -> Schedule:
    """Check and build a schedule; raises ``ValidationError(field, message)``."""
    the_kind = _kind(kind)
    key = _zone(tz)
    at = _start(start)
    text = " ".join((expression or "").split())
    if len(text) > EXPRESSION_MAX:
        raise ValidationError("expression", f"must be at most {EXPRESSION_MAX} characters")
    if the_kind is ScheduleKind.ONCE:
        if text:
            raise ValidationError(
                "expression", "a ONCE job runs at its start time; leave the expression empty"
            )
        return Schedule(the_kind, None, at, key)
    if not text:
        raise ValidationError(
            "expression",
            "a PERIODIC job needs a cron expression (like '0 6 * * MON-FRI')"
            " or a period (like 'every 6h')",
        )
    if text.lower().startswith("every"):
        return Schedule(the_kind, text.lower(), at, key, period=parse_period(text))
    cron = parse_cron(text)
    return Schedule(the_kind, cron.text, at, key, cron=cron)


def parse_period(text: str) -> timedelta:
    """``every 6h`` / ``every 30 minutes`` / ``every 1h30m`` as a duration."""
    body = " ".join(text.lower().split()).removeprefix("every").strip()
    parts = _PERIOD_PART.findall(body)
    example = "write a period like 'every 6h', 'every 30m', 'every 2d' or 'every 1h30m'"
    if not parts or _PERIOD_PART.sub("", body).strip():
        raise ValidationError("expression", f"{text!r} is not understood; {example}")
    seconds = 0
    for number, word in parts:
        unit = _UNIT_WORDS.get(word.removesuffix("s") if len(word) > 1 else word, word)
        if unit not in _UNITS:
            raise ValidationError("expression", f"unknown unit {word!r} in {text!r}; {example}")
        seconds += int(number) * _UNITS[unit]
    period = timedelta(seconds=seconds)
    if period < MIN_PERIOD:
        raise ValidationError(
            "expression", f"{text!r} is shorter than the minimum period of 1 minute"
        )
    if period > MAX_PERIOD:
        raise ValidationError("expression", f"{text!r} is longer than the maximum of 366 days")
    return period


def due_runs(
    schedule: Schedule,
    last: datetime | None,
    now: datetime,
    policy: MisfirePolicy,
    grace: timedelta = DEFAULT_MISFIRE_GRACE,
) -> list[datetime]:
    """The run times to create now, given the last run time already processed (None: none).

    Times within ``grace`` before ``now`` are on time and always created. Older times after
    ``last`` were missed: RUN_ONCE creates one catch-up run for the latest missed time, but
    only when no time is on time (an on-time run already catches up); SKIP creates none.
    The caller then records ``now`` (or the last time returned) as processed.
    """
    cutoff = _utc(now, "now") - grace
    lower = cutoff - timedelta(microseconds=1)
    if last is not None:
        lower = max(lower, _utc(last, "last"))
    on_time = list(schedule.occurrences(lower, now))
    if on_time or policy is MisfirePolicy.SKIP:
        return on_time
    missed = schedule.latest(last, lower) if last is None or last < lower else None
    return [missed] if missed is not None else []


def run_id(job_id: UUID, scheduled_at: datetime) -> UUID:
    """Deterministic id of a job's run at a time: equal inputs give equal ids everywhere."""
    at = _utc(scheduled_at, "scheduled_at")
    return uuid5(RUN_NAMESPACE, f"{job_id}/{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}")


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def _kind(kind: ScheduleKind | str) -> ScheduleKind:
    try:
        return ScheduleKind(str(kind).strip().upper())
    except ValueError:
        raise ValidationError("kind", f"must be ONCE or PERIODIC, not {kind!r}") from None


def _zone(tz: str) -> str:
    key = str(tz or "").strip()
    try:
        ZoneInfo(key)
        return key
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(
            "timeZone", f"unknown time zone {key!r}; use an IANA name like 'Europe/Berlin'"
        ) from None


def _start(start: datetime) -> datetime:
    if not isinstance(start, datetime):
        raise ValidationError("start", "must be a date and time")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValidationError(
            "start", f"{start.isoformat()} has no time zone; give a UTC offset or zone"
        )
    gap = gap_around(start, start.tzinfo)
    if gap is not None:
        where = getattr(start.tzinfo, "key", None) or str(start.tzinfo)
        end = f"{gap[1]:%H:%M}" if gap[1].date() == gap[0].date() else f"{gap[1]:%Y-%m-%d %H:%M}"
        raise ValidationError(
            "start",
            f"{start:%Y-%m-%d %H:%M} does not exist in {where}: clocks jump from"
            f" {gap[0]:%Y-%m-%d %H:%M} to {end} (daylight saving time gap);"
            " pick a time outside the gap",
        )
    at = start.astimezone(UTC)
    if not FIRST_YEAR <= at.year <= LAST_YEAR:
        raise ValidationError("start", f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return at
