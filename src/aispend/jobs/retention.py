"""Retention clean-up: raw call records older than AISPEND_CALL_RETENTION_DAYS go; hourly rollups stay.
The live ingest log (core/ledger/ingest_log.py) keeps AISPEND_INGEST_LOG_RETENTION_DAYS.

The purge watermark is written first (LedgerMeta "calls_purged_before", ISO datetime, UTC) so that
ingestion refuses rows older than it from that moment on, then rows are deleted in batches so one
run never holds a long lock on a big table. The watermark is on an hour boundary (an hour's rollup is
then either fully backed by raw rows or not at all) and never moves backwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlmodel import col

from aispend.core.ledger.ingest_log import purge_ingest_log
from aispend.core.ledger.models import CallRecord, LedgerMeta
from aispend.core.timeutil import as_utc, floor_hour
from aispend.jobs.registry import JobContext, JobHandedBack, JobResult

WATERMARK_KEY = "calls_purged_before"
BATCH_SIZE = 5_000


def purge_cutoff(now: datetime, retention_days: int) -> datetime:
    return floor_hour(as_utc(now) - timedelta(days=retention_days))


def read_watermark(engine: Engine) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(
            select(col(LedgerMeta.value)).where(col(LedgerMeta.key) == WATERMARK_KEY)
        ).scalar_one_or_none()
    return as_utc(datetime.fromisoformat(value)) if value else None


def advance_watermark(engine: Engine, cutoff: datetime) -> datetime:
    """Store max(current, cutoff) and return it."""
    with engine.begin() as conn:
        row = conn.execute(
            select(LedgerMeta).where(col(LedgerMeta.key) == WATERMARK_KEY).with_for_update()
        ).one_or_none()
        if row is None:
            conn.execute(insert(LedgerMeta).values(key=WATERMARK_KEY, value=cutoff.isoformat()))
            return cutoff
        current = as_utc(datetime.fromisoformat(row.value))
        if cutoff <= current:
            return current
        conn.execute(update(LedgerMeta).where(col(LedgerMeta.key) == WATERMARK_KEY).values(value=cutoff.isoformat()))
        return cutoff


def purge_calls(
    engine: Engine, before: datetime, *, batch_size: int = BATCH_SIZE, stop_requested: object = None
) -> int:
    """Delete CallRecord rows with ts < `before`, in batches; returns how many went."""
    deleted = 0
    while True:
        with engine.begin() as conn:
            ids = (
                conn.execute(select(col(CallRecord.id)).where(col(CallRecord.ts) < before).limit(batch_size))
                .scalars()
                .all()
            )
            if not ids:
                return deleted
            conn.execute(delete(CallRecord).where(col(CallRecord.id).in_(ids)))
        deleted += len(ids)
        if callable(stop_requested) and stop_requested():
            raise JobHandedBack(f"stopped after deleting {deleted} rows; the rest go at the next run")


def retention_job(context: JobContext) -> JobResult:
    cutoff = purge_cutoff(context.now, context.settings.call_retention_days)
    watermark = advance_watermark(context.engine, cutoff)
    deleted = purge_calls(context.engine, watermark, stop_requested=context.stop_requested)
    log_before = as_utc(context.now) - timedelta(days=context.settings.ingest_log_retention_days)
    with context.engine.begin() as conn:
        log_deleted = purge_ingest_log(conn, log_before)
    summary = f"deleted {deleted} call records before {watermark.isoformat()}"
    data: dict[str, object] = {"deleted": deleted, "calls_purged_before": watermark.isoformat()}
    if log_deleted:  # said only when the live ingest log had rows past its retention
        summary += f", {log_deleted} live ingest log rows before {log_before.isoformat()}"
        data["ingest_log_deleted"] = log_deleted
    return JobResult(summary=summary, data=data)
