"""Operations benchmarks: scheduler overhead over a simulated week, and the retention purge rate.

    python benchmarks/jobs_cadence.py [DATABASE_URL]

Uses fresh SQLite files by default. A PostgreSQL URL must point at an empty schema, and then only one
measurement is meaningful per fresh schema (they share it).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

from aispend.core.ledger.db import make_engine, upgrade
from aispend.core.ledger.models import CallRecord
from aispend.core.settings import Settings
from aispend.jobs.catalog import (
    DIGEST,
    EVALUATE,
    MONTHLY_REVIEW,
    QUARTERLY_REVIEW,
    RETENTION,
    ROLLUPS,
    build_job_set,
)
from aispend.jobs.registry import JobContext, JobRegistry
from aispend.jobs.retention import purge_calls
from aispend.jobs.runner import Runner

START = datetime(2026, 12, 28, tzinfo=UTC)


class _Discard:
    """Jobs' posts go nowhere: the benchmark times the scheduler, not delivery."""

    def post(self, channel: str, text: str, *, dedupe_key: str | None = None) -> None:
        pass


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def simulated_week(url: str, sources: int) -> tuple[int, float]:
    engine = make_engine(url)
    upgrade(engine)
    registry = JobRegistry()

    def body(_context: JobContext) -> None:
        return None

    for i in range(sources):
        registry.register_sync_source(f"source{i:02d}", body)
    for name in (EVALUATE, DIGEST, MONTHLY_REVIEW, QUARTERLY_REVIEW, RETENTION, ROLLUPS):
        registry.register(name, body)
    settings = Settings(jobs_sync_stagger_minutes=3)
    clock = Clock(START)
    runner = Runner(
        settings=settings,
        engine=engine,
        jobs=build_job_set(settings, registry),
        notifier=_Discard(),
        owner="scheduler:bench",
        clock=clock,
    )
    runner.tick()
    began = time.perf_counter()
    runs = 0
    while True:
        wake = runner.next_wakeup()
        if wake is None or wake >= START + timedelta(days=7):
            break
        clock.now = wake
        runs += len(runner.tick())
    return runs, time.perf_counter() - began


def purge_rate(url: str, rows: int) -> float:
    engine = make_engine(url)
    upgrade(engine)
    old = START - timedelta(days=90)
    batch = [
        {
            "call_key": f"k{i}",
            "ts": old + timedelta(seconds=i),
            "provider": "openai",
            "model": "m",
            "input_tokens": 1,
            "output_tokens": 1,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "cost": Decimal("0.001"),
            "currency": "USD",
            "cost_source": "given",
            "zero_cost_flag": False,
            "workflow": "",
            "feature": "",
            "team": "",
            "customer": "",
            "user": "",
            "run_id": "",
            "step": "",
            "outcome": "",
            "ingested_at": old,
        }
        for i in range(rows)
    ]
    with engine.begin() as conn:
        conn.execute(insert(CallRecord), batch)
    began = time.perf_counter()
    deleted = purge_calls(engine, START)
    assert deleted == rows
    return rows / (time.perf_counter() - began)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:

        def fresh(name: str) -> str:
            return sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(tmp) / name}"

        for sources in (2, 10):
            runs, seconds = simulated_week(fresh(f"week{sources}.db"), sources)
            print(
                f"simulated week, {sources} sync sources: {runs} runs in {seconds:.1f}s "
                f"({1000 * seconds / runs:.2f} ms of scheduler + bookkeeping per run)"
            )
        print(f"retention purge: {purge_rate(fresh('purge.db'), 100_000):,.0f} records/s (batches of 5,000)")


if __name__ == "__main__":
    main()
