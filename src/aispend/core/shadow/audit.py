"""The monthly shadow-AI audit: load the month plus its look-back from the ledger, classify, find.

`run_monthly_audit(engine, month, now, ...)` is what the scheduler calls (once a month, for the month
that just ended). It reads only stored lines, so running it for the first time over a year of history
gives the same findings as running it every month: nothing depends on earlier runs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Engine

from aispend.core.shadow.classify import classify
from aispend.core.shadow.findings import Rules, ShadowReport, month_report
from aispend.core.shadow.matcher import Matcher
from aispend.core.shadow.store import load_rows
from aispend.core.timeutil import as_utc, next_month


def previous_month(now: datetime) -> date:
    """The last complete month at `now` (the audit's default)."""
    first = as_utc(now).date().replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def run_monthly_audit(
    engine: Engine,
    month: date | None,
    *,
    now: datetime,
    matcher: Matcher,
    rules: Rules,
    currency: str,
    duplicate_window_days: int = 3,
    refund_window_days: int = 120,
) -> ShadowReport:
    target = (month or previous_month(now)).replace(day=1)
    # Refund/duplicate links can cross the month boundary: read the refund window after the month too.
    first = target - timedelta(days=rules.history_days + refund_window_days)
    end = next_month(target) + timedelta(days=duplicate_window_days)
    rows = load_rows(engine, first_day=first, end_day=end)
    classified = classify(rows, matcher, duplicate_window_days, refund_window_days)
    return month_report(classified, target, matcher, rules, currency)
