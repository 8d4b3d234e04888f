"""Schedule strings -> APScheduler 3.x triggers, and the pure slot arithmetic the scheduler relies on.

A schedule is either a cron string (5 fields: minute hour day month day-of-week, as crontab; or 6
fields with seconds first, for tests and fast demos) or one of two calendar rules cron cannot say:
``@first-business-day HH:MM`` (first Monday-Friday of each month) and
``@first-business-day-of-quarter HH:MM`` (January, April, July, October). Public holidays are not
considered. Times are in the company time zone (AISPEND_TIMEZONE).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Protocol

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

_TICK = timedelta(microseconds=1)
QUARTER_MONTHS = (1, 4, 7, 10)


class Trigger(Protocol):
    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None: ...


class FirstBusinessDayTrigger(BaseTrigger):
    """Fires at HH:MM on the first weekday (Mon-Fri) of each month, or of each quarter."""

    __slots__ = ("at", "months", "timezone")

    def __init__(self, at: time, timezone: tzinfo, months: tuple[int, ...] = tuple(range(1, 13))) -> None:
        self.at = at
        self.timezone = timezone
        self.months = months

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        start = now if previous_fire_time is None else max(now, previous_fire_time + _TICK)
        local = start.astimezone(self.timezone)
        year, month = local.year, local.month
        for _ in range(25):  # at most two years ahead
            if month in self.months:
                candidate = datetime.combine(first_business_day(year, month), self.at, tzinfo=self.timezone)
                if candidate >= start:
                    return candidate
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return None


def first_business_day(year: int, month: int) -> date:
    day = date(year, month, 1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def parse_schedule(spec: str, timezone: tzinfo) -> Trigger:
    """A trigger for `spec`; ValueError with the reason when it is not a schedule."""
    text = " ".join(spec.split())
    if text.startswith("@"):
        rule, _, clock = text.partition(" ")
        if rule == "@first-business-day":
            return FirstBusinessDayTrigger(_parse_hhmm(clock, spec), timezone)
        if rule == "@first-business-day-of-quarter":
            return FirstBusinessDayTrigger(_parse_hhmm(clock, spec), timezone, QUARTER_MONTHS)
        raise ValueError(
            f"unknown schedule rule {rule!r} in {spec!r} "
            "(use a cron string, @first-business-day HH:MM or @first-business-day-of-quarter HH:MM)"
        )
    fields = text.split(" ")
    try:
        if len(fields) == 5:
            return CronTrigger.from_crontab(text, timezone=timezone)
        if len(fields) == 6:
            second, minute, hour, day, month, day_of_week = fields
            return CronTrigger(
                second=second,
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=day_of_week,
                timezone=timezone,
            )
    except ValueError as exc:
        raise ValueError(f"invalid cron string {spec!r}: {exc}") from None
    raise ValueError(f"invalid cron string {spec!r}: expected 5 fields (minute hour day month weekday) or 6")


def _parse_hhmm(text: str, spec: str) -> time:
    try:
        hour, minute = (int(part) for part in text.split(":"))
        return time(hour, minute)
    except ValueError:
        raise ValueError(f"expected HH:MM after the rule in {spec!r}") from None


def next_slot(trigger: Trigger, after: datetime) -> datetime | None:
    """The first slot strictly after `after`."""
    return trigger.get_next_fire_time(None, after + _TICK)


def due_slots(trigger: Trigger, after: datetime, now: datetime, limit: int = 10_000) -> tuple[datetime | None, int]:
    """(latest slot in (after, now], how many slots fell in that range) — the coalescing arithmetic."""
    latest: datetime | None = None
    count = 0
    cursor = after
    while count < limit:
        slot = next_slot(trigger, cursor)
        if slot is None or slot > now:
            break
        latest, cursor, count = slot, slot, count + 1
    return latest, count


def parse_sync_overrides(text: str) -> dict[str, str]:
    """ "openai=15 */2 * * *;aws=0 6 * * *" -> {source: cron}; ValueError naming the bad part."""
    overrides: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        source, sep, cron = part.partition("=")
        if not sep or not source.strip() or not cron.strip():
            raise ValueError(f"expected source=cron in AISPEND_JOBS_SYNC_CRONS, got {part.strip()!r}")
        overrides[source.strip()] = cron.strip()
    return overrides
