"""Reporting periods (UTC days, end exclusive, `rules.periods.Period`) and their like-for-like
comparison periods."""

from __future__ import annotations

from datetime import date, timedelta

from aispend.core.rules.periods import Comparison, Period, like_for_like, period_of
from aispend.core.timeutil import month_start, next_month, week_start


def period_containing(kind: str, at: date, today: date) -> Period:
    """The week (Monday-Sunday) or calendar month containing `at`; cut at today when still running."""
    if kind == "week":
        start = week_start(at)
        end = start + timedelta(days=7)
    elif kind == "month":
        start = month_start(at)
        end = next_month(at)
    else:
        raise ValueError(f"unknown period {kind!r}; use week or month")
    tomorrow = today + timedelta(days=1)
    if end <= tomorrow:
        return Period(kind, start, end, complete=True)
    return Period(kind, start, max(tomorrow, start + timedelta(days=1)), complete=False)


def comparison_of(period: Period, today: date) -> Comparison | None:
    """The like-for-like windows a report period's change is measured over (`rules.periods`'s rule,
    the one the change alerts use): complete days only, the same weekdays whole weeks earlier."""
    return like_for_like(period_of(period.kind, period.start), today)


def window_period(kind: str, window: tuple[date, date]) -> Period:
    """A compared window as a report period (its days are all complete)."""
    return Period(kind, window[0], window[1], complete=True)
