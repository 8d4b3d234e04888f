"""The scheduled sync of one source: the sync engine's `sync_one`, as a job.

The engine records the source's own state (`sync_state`: cursor, last success, error); this wrapper
turns a failed source into a failed run, so the scheduler's failure streak and admin alert apply.
"""

from __future__ import annotations

from aispend.connectors.base import Connector
from aispend.core.errors import AispendError
from aispend.jobs.registry import JobContext, JobResult
from aispend.jobs.sync import SyncEngine, SyncPolicy


class SyncFailedError(AispendError):
    code = "sync_failed"


def sync_source_job(context: JobContext, *, source: str, connector: Connector) -> JobResult:
    engine = SyncEngine(context.engine, SyncPolicy.from_settings(context.settings), clock=context.clock)
    report = engine.sync_one(source, connector)
    if not report.ok:
        raise SyncFailedError(report.error or f"{source}: sync failed")
    window = f"{report.window.start}..{report.window.end}" if report.window else "-"
    lines = report.lines
    return JobResult(
        summary=(
            f"window {window}: +{lines.inserted} ~{lines.updated} -{lines.removed} lines, {report.requests} request(s)"
        ),
        data={"source": source, "requests": report.requests, "inserted": lines.inserted},
    )
