"""Run a report's queries and hand the figures to its pure builder."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection

from aispend.core.ledger import queries
from aispend.core.ledger.spend import SpendPolicy
from aispend.core.reports.periods import comparison_of, period_containing
from aispend.core.reports.spend import build_spend_report
from aispend.core.reports.top import build_top_report


def top_report(
    conn: Connection, *, by: str, kind: str, at: date, today: date, limit: int, policy: SpendPolicy
) -> dict[str, Any]:
    queries.check_dimension(by)
    if limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    period = period_containing(kind, at, today)
    comparison = comparison_of(period, today)
    is_workflow = by == "workflow"
    current = queries.spend_by(conn, by, start=period.start, end=period.end, policy=policy)
    compared = previous = None
    if comparison is not None:
        (c0, c1), (p0, p1) = comparison.current, comparison.previous
        compared = (
            current
            if (c0, c1) == (period.start, period.end)
            else queries.spend_by(conn, by, start=c0, end=c1, policy=policy)
        )
        previous = queries.spend_by(conn, by, start=p0, end=p1, policy=policy)
    return build_top_report(
        by=by,
        period=period,
        comparison=comparison,
        current_rows=current.rows,
        compared_rows=compared.rows if compared else [],
        previous_rows=previous.rows if previous else [],
        limit=limit,
        workflows=queries.workflow_info(conn) if is_workflow else None,
        runs=queries.runs_by_workflow(conn, start=period.start, end=period.end) if is_workflow else None,
        outcomes=queries.outcomes_by_workflow(conn, start=period.start, end=period.end) if is_workflow else None,
        unpriced=queries.unpriced_models(conn, start=period.start, end=period.end),
        spend=[s.spend for s in (current, compared, previous) if s is not None],
    )


def spend_report(conn: Connection, *, by: str, since: date, until: date, policy: SpendPolicy) -> dict[str, Any]:
    queries.check_dimension(by)
    if until <= since:
        raise ValueError(f"--until ({until}) must be after --since ({since})")
    result = queries.spend_by(conn, by, start=since, end=until, policy=policy)
    return build_spend_report(
        by=by,
        since=since,
        until=until,
        rows=result.rows,
        unpriced=queries.unpriced_models(conn, start=since, end=until),
        spend=[result.spend],
    )
