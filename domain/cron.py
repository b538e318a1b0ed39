"""Five-field cron expressions: parsing, checking and finding run times in a time zone.

Fields: ``minute hour day-of-month month day-of-week`` with ``*``, lists ``1,2``, ranges
``1-5``, steps ``*/15`` and ``10-50/10`` (``5/15`` means ``5-59/15``), month names JAN-DEC
and day names SUN-SAT (case-insensitive; day-of-week 0 and 7 are both Sunday), and the
macros ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight`` and
``@hourly``. Seconds, years and Quartz extensions (``?``, ``L``, ``W``, ``#``) are refused.

Days follow Vixie cron: when day-of-month and day-of-week are both restricted (neither
starts with ``*``), a day matches if EITHER matches; otherwise both must match.

Times are wall-clock times in the job's zone. A time inside a spring-forward gap runs at
the first valid instant after the gap (several such times collapse into that one run);
a time repeated by a fall-back runs once, at its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from domain.errors import ValidationError

FIELD = "expression"
MONTH_ABBR = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
DAY_ABBR = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # Feb 29 happens in leap years
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# A valid expression matches within 40 years (Sunday Feb 29: 2088, then 2128); stop after 100.
_SEARCH_DAYS = 100 * 366


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    star_high: int | None = None  # day-of-week: `*` means 0-6 (7 is Sunday again)


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, MONTH_ABBR),
    _Field("day-of-week", 0, 7, DAY_ABBR, star_high=6),
)


def _error(message: str) -> ValidationError:
    return ValidationError(FIELD, message)


@dataclass(frozen=True)
class CronExpression:
    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    day_or: bool  # both day fields restricted: a day matches if either matches

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = day.isoweekday() % 7 in self.weekdays
        return (by_date or by_weekday) if self.day_or else (by_date and by_weekday)

    def wall_times(self, since: datetime) -> Iterator[datetime]:
        """Matching naive wall-clock times at or after naive ``since``, in order."""
        day, misses = since.date(), 0
        while misses < _SEARCH_DAYS and day < date.max:
            if day.month not in self.months:  # jump to the next month
                nxt = day.replace(day=28) + timedelta(days=4)
                misses += (nxt.replace(day=1) - day).days
                day = nxt.replace(day=1)
                continue
            if self.matches_day(day):
                misses = 0
                for hour in self.hours:
                    if day == since.date() and hour < since.hour:
                        continue
                    for minute in self.minutes:
                        wall = datetime(day.year, day.month, day.day, hour, minute)
                        if wall >= since:
                            yield wall
            else:
                misses += 1
            day += timedelta(days=1)

    def instants(self, zone: tzinfo, after: datetime) -> Iterator[datetime]:
        """Run times (aware, UTC) strictly after ``after``, in increasing order."""
        last = after
        try:
            # Earlier wall times run before ``after`` (fall-backs included); keep a margin.
            since = after.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)
            for wall in self.wall_times(since):
                at = resolve(wall, zone)
                if at > last:  # gap times collapse onto one instant: yield it once
                    last = at
                    yield at
        except OverflowError:  # beyond year 1 or 9999
            return


def resolve(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant a naive wall-clock time runs at in ``zone`` (see the module doc)."""
    at = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # fold=0: first of a repeated time
    if at.astimezone(zone).replace(tzinfo=None) == wall:
        return at
    return _transition(wall, zone)


def _offset(at: datetime, zone: tzinfo) -> timedelta | None:
    return at.astimezone(zone).utcoffset()


def _transition(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant at which clocks jump over the non-existent ``wall`` time."""
    earlier = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # offset after the jump
    later = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # offset before the jump
    low, high = min(earlier, later), max(earlier, later)
    before = _offset(low, zone)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _offset(middle, zone) == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def gap_around(wall: datetime, zone: tzinfo) -> tuple[datetime, datetime] | None:
    """``(first missing, first valid)`` wall times if ``wall`` doesn't exist in ``zone``."""
    naive = wall.replace(tzinfo=None)
    at = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if at.astimezone(zone).replace(tzinfo=None) == naive:
        return None
    jump = _transition(naive, zone)
    start = (jump - timedelta(seconds=1)).astimezone(zone).replace(tzinfo=None)
    return start + timedelta(seconds=1), jump.astimezone(zone).replace(tzinfo=None)


def parse_cron(text: str) -> CronExpression:
    """Parse and check a 5-field cron expression; raises ``ValidationError("expression")``."""
    source = " ".join(text.split())
    if not source:
        raise _error("must not be empty")
    if source.startswith("@"):
        if source.lower() not in MACROS:
            raise _error(f"unknown macro {source!r}; use one of {', '.join(MACROS)}")
        source = source.lower()
    parts = MACROS.get(source, source).split()
    if len(parts) != 5:
        extra = " (a seconds or year field is not supported)" if len(parts) > 5 else ""
        raise _error(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week),"
            f" got {len(parts)}{extra}"
        )
    fields = (_parse_field(part, f) for part, f in zip(parts, _FIELDS, strict=True))
    minutes, hours, days, months, weekdays = fields
    day_or = not parts[2].startswith("*") and not parts[4].startswith("*")
    if not day_or and not any(d <= MAX_DAYS[m - 1] for m in months for d in days):
        never = [f"{MONTH_NAMES[m - 1]} {d}" for m in sorted(months) for d in sorted(days)]
        shown = ", ".join(never[:4]) + (", ..." if len(never) > 4 else "")
        verb = "never happens" if len(never) == 1 else "never happen"
        raise _error(f"{shown} {verb}; the expression would never run")
    return CronExpression(
        text=source,
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(d % 7 for d in weekdays),
        day_or=day_or,
    )


def _parse_field(text: str, field: _Field) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise _error(f"{field.name} field {text!r} has an empty list item")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            step = _number(step_text, field, f"step in {item!r}")
            if step < 1:
                raise _error(f"{field.name} step in {item!r} must be at least 1")
        if base == "*":
            low, high = field.low, field.star_high or field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _value(first, field, item), _value(last, field, item)
            if low > high:
                raise _error(f"{field.name} range {base!r} goes backwards; write it low-high")
        else:
            low = _value(base, field, item)
            high = field.high if slash else low
        values.update(range(low, high + 1, step))
    return values


def _number(token: str, field: _Field, what: str) -> int:
    if not (token.isascii() and token.isdigit()):
        raise _error(f"{field.name} {what}: {token!r} is not a number")
    return int(token)


def _value(token: str, field: _Field, item: str) -> int:
    if token.upper() in field.names:
        return field.names.index(token.upper()) + field.low
    if not (token.isascii() and token.isdigit()):
        names = f", or a name {field.names[0]}-{field.names[-1]}" if field.names else ""
        raise _error(
            f"{field.name} value {token!r} in {item!r} is not understood"
            f" (use a number {field.low}-{field.high}{names})"
        )
    number = int(token)
    if not field.low <= number <= field.high:
        note = ", 0 and 7 are Sunday" if field.star_high is not None else ""
        raise _error(f"{field.name} {number} is out of range ({field.low}-{field.high}{note})")
    return number
