"""Budget periods: calendar month (default), ISO week, day. End dates are exclusive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from aispend.core.timeutil import month_start, next_month, week_start

PERIOD_KINDS = ("month", "week")


@dataclass(frozen=True, slots=True)
class Period:
    kind: str
    start: date
    end: date  # exclusive

    @property
    def key(self) -> str:
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return self.start.isoformat()

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    def previous(self) -> Period:
        return period_of(self.kind, self.start - timedelta(days=1))

    def all_days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


def period_of(kind: str, day: date) -> Period:
    if kind == "month":
        return Period("month", month_start(day), next_month(day))
    if kind == "week":
        start = week_start(day)
        return Period("week", start, start + timedelta(days=7))
    if kind == "day":
        return Period("day", day, day + timedelta(days=1))
    raise ValueError(f"unknown period {kind!r}: expected one of month, week")


def parse_period_kind(text: str) -> str:
    value = text.strip().lower()
    if value not in PERIOD_KINDS:
        raise ValueError(f"unknown period {text!r}: expected one of {', '.join(PERIOD_KINDS)}")
    return value
