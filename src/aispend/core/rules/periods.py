"""Periods: calendar month (default), ISO week, day. End dates are exclusive.

`Period` is the one period type: budgets, findings, reports and the bot all use it. A report of a
period still running is cut at today and marked `complete=False`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aispend.core.timeutil import month_start, next_month, week_start

PERIOD_KINDS = ("month", "week")


@dataclass(frozen=True, slots=True)
class Period:
    kind: str
    start: date
    end: date  # exclusive
    complete: bool = True  # False: a running period cut at today (its days so far)

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

    def as_json(self, *, with_complete: bool = False) -> dict[str, Any]:
        """What a finding carries as its `span`, so nobody has to read dates back out of a key;
        with `complete` as well in a report or an alert."""
        data: dict[str, Any] = {"kind": self.kind, "start": self.start.isoformat(), "end": self.end.isoformat()}
        if with_complete:
            data["complete"] = self.complete
        return data

    @classmethod
    def from_json(cls, data: Any) -> Period:
        """The inverse of `as_json` (complete unless it says otherwise); a clear error for anything else."""
        if not isinstance(data, dict) or not {"kind", "start", "end"} <= data.keys():
            raise ValueError(f"a period span needs kind, start and end, got {data!r}")
        start, end = date.fromisoformat(str(data["start"])), date.fromisoformat(str(data["end"]))
        if end <= start:
            raise ValueError(f"a period span must end after it starts, got {data!r}")
        return cls(str(data["kind"]), start, end, bool(data.get("complete", True)))


@dataclass(frozen=True, slots=True)
class Comparison:
    """The two windows a change is measured over, [start, end) each: like for like."""

    current: tuple[date, date]
    previous: tuple[date, date]

    @property
    def days(self) -> int:
        return (self.current[1] - self.current[0]).days

    @property
    def label(self) -> str:
        return f"{_span(self.current)} against {_span(self.previous)}"

    def as_json(self) -> dict[str, object]:
        return {
            "current": [d.isoformat() for d in self.current],
            "previous": [d.isoformat() for d in self.previous],
            "days": self.days,
            "label": self.label,
        }


def _span(window: tuple[date, date]) -> str:
    first, last = window[0], window[1] - timedelta(days=1)
    if first == last:
        return f"{first:%a %-d %b %Y}"
    return f"{first:%a %-d %b} – {last:%a %-d %b %Y}"


def like_for_like(period: Period, today: date) -> Comparison | None:
    """What `period` is compared with, as of `today` (UTC).

    A finished period is compared with the whole period before it. A running one is compared over its
    complete days only (today's hours are not over yet), against the same weekdays whole weeks earlier:
    one week for a week, four (five once a month has run past 28 days) for a month. Tuesday 1 December
    is compared with Tuesday 3 November, never with Sunday 1 November. None on a period's first day,
    when no complete day exists to compare.
    """
    if today >= period.end:
        before = period.previous()
        return Comparison((period.start, period.end), (before.start, before.end))
    elapsed = (today - period.start).days
    if elapsed <= 0:
        return None
    weeks = max(-(-elapsed // 7), 1 if period.kind == "week" else 4)
    start = period.start - timedelta(weeks=weeks)
    return Comparison((period.start, today), (start, start + timedelta(days=elapsed)))


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


# `2026-11`, `2026-W48` or `2026-11-30`, optionally followed by `/<anything>` (a rule's own qualifier,
# e.g. the step of an escalation gate: `2026-12/draft`).
_KEY = re.compile(r"^(?P<year>\d{4})-(?:W(?P<week>\d{2})|(?P<month>\d{2})(?:-(?P<day>\d{2}))?)(?:/.*)?$", re.S)


def period_from_key(key: str) -> Period:
    """The period a finding's period key names. Only for notifications stored before findings carried
    their span; anything that is not one of those forms is a clear ValueError."""
    match = _KEY.match(key)
    if match is None:
        raise ValueError(f"period key {key!r} names no month (YYYY-MM), ISO week (YYYY-Www) or day (YYYY-MM-DD)")
    year = int(match["year"])
    try:
        if match["week"]:
            return period_of("week", date.fromisocalendar(year, int(match["week"]), 1))
        day = date(year, int(match["month"]), int(match["day"] or 1))
    except ValueError as exc:
        raise ValueError(f"period key {key!r}: {exc}") from None
    return period_of("day" if match["day"] else "month", day)
