"""Rollup maintenance: recompute the recent days' rollups from the raw calls still kept.

Rollups are maintained in the same transaction as every insert, so this normally finds nothing; it
repairs drift if anything ever wrote rollups without calls (a manual fix, a restored backup).
"""

from __future__ import annotations

from datetime import timedelta

from aispend.core.ledger.calls import rebuild_rollups
from aispend.jobs.registry import JobContext, JobResult

REBUILD_DAYS = 3  # the days most likely to have changed: the restatement look-back


def rollup_maintenance_job(context: JobContext) -> JobResult:
    since = context.now.date() - timedelta(days=REBUILD_DAYS)
    with context.engine.begin() as conn:
        result = rebuild_rollups(conn, since)
    state = "drift repaired" if result.drifted else "no drift"
    summary = f"rollups since {result.first_day}: {result.rows_after} hourly rows, {state}"
    if result.drifted:
        context.log.warning("rollup drift repaired since %s", result.first_day)
    return JobResult(summary=summary, data={"drifted": result.drifted, "rows": result.rows_after})
