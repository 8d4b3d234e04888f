"""Retention clean-up: raw calls past AISPEND_CALL_RETENTION_DAYS go, hourly rollups stay, and the
purge watermark (LedgerMeta "calls_purged_before") only ever moves forward."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from aispend.core.ledger.models import CallRecord, CallRollup, LedgerMeta
from aispend.core.settings import Settings
from aispend.jobs.registry import JobContext, JobHandedBack
from aispend.jobs.retention import WATERMARK_KEY, purge_calls, read_watermark, retention_job
from tests.notifier import Posts

NOW = datetime(2026, 11, 26, 20, 40, 15, tzinfo=UTC)


def _call(key: str, ts: datetime) -> CallRecord:
    return CallRecord(
        call_key=key,
        ts=ts,
        provider="openai",
        model="gpt-4o",
        input_tokens=10,
        output_tokens=5,
        cost=Decimal("0.001"),
        currency="USD",
        cost_source="given",
        ingested_at=ts,
    )


def _rollup(hour: datetime) -> CallRollup:
    return CallRollup(
        hour=hour,
        day=hour.date(),
        provider="openai",
        model="gpt-4o",
        currency="USD",
        calls=1,
        cost=Decimal("0.001"),
    )


def _context(engine: Engine, now: datetime, days: int = 35) -> JobContext:
    return JobContext(
        name="retention",
        settings=Settings(call_retention_days=days),
        engine=engine,
        now=now,
        slot=now,
        notifier=Posts(),
    )


def _keys(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.execute(select(CallRecord.call_key)).scalars())


def test_old_calls_go_rollups_stay_and_the_watermark_is_recorded(engine: Engine) -> None:
    cutoff = datetime(2026, 10, 22, 20, 0, tzinfo=UTC)  # NOW - 35 days, down to the hour
    with Session(engine) as session:
        session.add(_call("old", cutoff - timedelta(days=3)))
        session.add(_call("just-before", cutoff - timedelta(microseconds=1)))
        session.add(_call("at-cutoff", cutoff))  # same hour as the cutoff: kept with its whole hour
        session.add(_call("recent", NOW - timedelta(hours=1)))
        session.add(_rollup(cutoff - timedelta(days=3)))
        session.add(_rollup(cutoff))
        session.commit()

    result = retention_job(_context(engine, NOW))

    assert result.data == {"deleted": 2, "calls_purged_before": "2026-10-22T20:00:00+00:00"}
    assert _keys(engine) == ["at-cutoff", "recent"]
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(CallRollup)).scalar_one() == 2
        meta = session.get(LedgerMeta, WATERMARK_KEY)
    assert meta is not None and meta.value == "2026-10-22T20:00:00+00:00"
    assert read_watermark(engine) == cutoff


def test_the_watermark_never_moves_back_and_a_rerun_is_harmless(engine: Engine) -> None:
    retention_job(_context(engine, NOW, days=7))
    later_cutoff = read_watermark(engine)
    assert later_cutoff == datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
    with Session(engine) as session:
        session.add(_call("in-longer-window", NOW - timedelta(days=20)))  # would be kept with 35 days
        session.commit()

    result = retention_job(_context(engine, NOW, days=35))  # retention lengthened afterwards

    assert result.data["calls_purged_before"] == later_cutoff.isoformat()  # not moved back
    assert _keys(engine) == []  # older than the watermark: such rows cannot be kept consistently
    assert retention_job(_context(engine, NOW, days=35)).data["deleted"] == 0


def test_purge_works_in_batches_and_hands_back_when_asked_to_stop(engine: Engine) -> None:
    old = NOW - timedelta(days=100)
    with Session(engine) as session:
        for i in range(7):
            session.add(_call(f"c{i}", old + timedelta(minutes=i)))
        session.commit()
    stops = iter([False, True])
    with pytest.raises(JobHandedBack, match="stopped after deleting 4 rows"):
        purge_calls(engine, NOW, batch_size=2, stop_requested=lambda: next(stops))
    assert len(_keys(engine)) == 3
    assert purge_calls(engine, NOW, batch_size=2) == 3
    assert _keys(engine) == []


def test_nothing_to_purge_still_records_the_watermark(engine: Engine) -> None:
    assert read_watermark(engine) is None
    result = retention_job(_context(engine, NOW, days=1))
    assert result.summary == "deleted 0 call records before 2026-11-25T20:00:00+00:00"
    assert read_watermark(engine) == datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    assert date(2026, 11, 25) == read_watermark(engine).date()  # type: ignore[union-attr]
