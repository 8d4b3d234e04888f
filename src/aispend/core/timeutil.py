"""Time helpers. Nothing here reads the clock: callers pass `now`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The one place production code reads wall time; tests inject their own clock."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def naive_utc(value: datetime) -> datetime:
    """Naive UTC, the form the ledger stores (portable across SQLite and PostgreSQL)."""
    return as_utc(value).replace(tzinfo=None)


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def floor_hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def week_start(day: date) -> date:
    """Monday of the ISO week containing `day`."""
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    first = day.replace(day=1)
    return (first + timedelta(days=32)).replace(day=1)


def parse_date(text: str) -> date:
    """ISO date (YYYY-MM-DD) with a clear error."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a date (expected YYYY-MM-DD): {text!r}") from None


def days_label(days: Sequence[date]) -> str:
    """Sorted days as a reader wants them: "2026-11-19", or "3 days, 2026-11-17 to 2026-11-19"."""
    if len(days) == 1:
        return days[0].isoformat()
    return f"{len(days)} days, {days[0].isoformat()} to {days[-1].isoformat()}"
