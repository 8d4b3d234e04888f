"""Run a report's queries and hand the figures to its pure builder."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection

from aispend.ledger import queries
from aispend.reports.periods import period_containing, previous_period
from aispend.reports.spend import build_spend_report
from aispend.reports.top import build_top_report


def top_report(conn: Connection, *, by: str, kind: str, at: date, today: date, limit: int) -> dict[str, Any]:
    queries.check_dimension(by)
    if limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    period = period_containing(kind, at, today)
    previous = previous_period(period)
    is_workflow = by == "workflow"
    return build_top_report(
        by=by,
        period=period,
        previous=previous,
        current_rows=queries.spend_by(conn, by, period.start, period.end),
        previous_rows=queries.spend_by(conn, by, previous.start, previous.end),
        limit=limit,
        workflows=queries.workflow_info(conn) if is_workflow else None,
        runs=queries.runs_by_workflow(conn, period.start, period.end) if is_workflow else None,
        outcomes=queries.outcomes_by_workflow(conn, period.start, period.end) if is_workflow else None,
        unpriced=queries.unpriced_models(conn, period.start, period.end),
    )


def spend_report(conn: Connection, *, by: str, since: date, until: date) -> dict[str, Any]:
    queries.check_dimension(by)
    if until <= since:
        raise ValueError(f"--until ({until}) must be after --since ({since})")
    return build_spend_report(
        by=by,
        since=since,
        until=until,
        rows=queries.spend_by(conn, by, since, until),
        unpriced=queries.unpriced_models(conn, since, until),
    )
