"""Benchmark: `evaluate` with 100 thresholds over a month of data for 50 workflows x 20 teams.

Data: hourly call rollups for every (workflow, team) pair, 4 active hours a day, 3 models, for the
30 days of November (--days 30, the default: 120,000 rollup rows); --days 61 adds October, the
forecast's history and the month-over-month comparison (244,000 rows).
Thresholds: the company, 20 teams (month), 20 teams (week),
50 workflows, 6 models and 3 providers = 100.

Reported: the whole evaluation (every rule, alert states and notifications persisted) the first
time and again (steady state), and the threshold rule alone over data already in memory.
Target: under 1 s.   Run: python benchmarks/evaluate.py [--db URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session

from aispend.core.governance import queries, store
from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.evaluate import evaluate
from aispend.core.ledger.calls import apply_rollup_deltas
from aispend.core.ledger.db import make_engine, upgrade
from aispend.core.ledger.spend import SpendPolicy
from aispend.core.rules.findings import COMPANY, Scope
from aispend.core.rules.forecast import HISTORY_DAYS
from aispend.core.rules.spend import SpendIndex
from aispend.core.rules.thresholds import Threshold, evaluate_thresholds

WORKFLOWS = [f"workflow-{i:02d}" for i in range(50)]
TEAMS = [f"team-{i:02d}" for i in range(20)]
MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")]
NOW = datetime(2026, 11, 30, 18, tzinfo=UTC)


def load(engine: object, days: int, hours: tuple[int, ...]) -> int:
    rng = random.Random(7)
    day = NOW.date() - timedelta(days=days - 1)
    total = 0
    with engine.begin() as conn:  # type: ignore[attr-defined]
        while day <= NOW.date():
            batch = []
            for wi, wf in enumerate(WORKFLOWS):
                for team in TEAMS:
                    for hour in hours:
                        provider, model = MODELS[(wi + hour) % 3]
                        calls = rng.randint(5, 50)
                        batch.append(
                            {
                                "hour": datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
                                "day": day,
                                "provider": provider,
                                "model": model,
                                "workflow": wf,
                                "feature": "",
                                "team": team,
                                "customer": "",
                                "currency": "USD",
                                "calls": calls,
                                "input_tokens": calls * 900,
                                "output_tokens": calls * 200,
                                "cache_read_tokens": calls * 100,
                                "cache_write_tokens": 0,
                                "cost": Decimal(calls) * Decimal("0.0123"),
                                "unpriced_calls": 0,
                                "unpriced_tokens": 0,
                                "zero_cost_calls": 0,
                                "latency_ms_sum": 0,
                            }
                        )
            # The ledger's own write path for rollups: hourly rows, and the daily rows governance reads.
            apply_rollup_deltas(conn, batch)
            total += len(batch)
            day += timedelta(days=1)
    return total


def thresholds() -> list[Threshold]:
    out = [Threshold(COMPANY, "month", Decimal(8000), Decimal(10000), "USD")]
    out += [Threshold(Scope("team", t), "month", Decimal(400), Decimal(500), "USD") for t in TEAMS]
    out += [Threshold(Scope("team", t), "week", Decimal(100), Decimal(130), "USD") for t in TEAMS]
    out += [Threshold(Scope("workflow", w), "month", Decimal(150), Decimal(200), "USD") for w in WORKFLOWS]
    out += [
        Threshold(Scope("model", m), "month", Decimal(3000), Decimal(4000), "USD")
        for m in ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "o3", "gemini-2.5-pro", "mistral-large")
    ]
    out += [
        Threshold(Scope("provider", p), "month", Decimal(3000), Decimal(4000), "USD")
        for p in ("openai", "anthropic", "google")
    ]
    assert len(out) == 100
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="", help="database URL (default: a new SQLite file)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--days", type=int, default=30, help="days of data ending on the evaluation day")
    parser.add_argument(
        "--hours-per-day",
        type=int,
        default=4,
        choices=[1, 2, 4],
        help="active hours per (workflow, team) and day; 1 = the size of a daily rollup",
    )
    args = parser.parse_args()
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    t = time.perf_counter()
    rows = load(engine, args.days, (9, 11, 14, 16)[: args.hours_per_day])
    print(f"loaded {rows:,} rollup rows in {time.perf_counter() - t:.1f} s ({engine.dialect.name})")
    with Session(engine) as session:
        for rule in thresholds():
            store.set_threshold(session, rule, actor="bench", now=NOW)
        session.commit()

    config = GovernanceConfig()
    t = time.perf_counter()
    first = evaluate(engine, now=NOW, config=config)
    first_s = time.perf_counter() - t
    print(
        f"first evaluation: {first_s * 1000:.0f} ms, {len(first.findings)} findings, "
        f"{len(first.new_notifications)} notifications"
    )
    runs = []
    for i in range(args.repeat):
        t = time.perf_counter()
        again = evaluate(engine, now=NOW + timedelta(minutes=i + 1), config=config)
        runs.append(time.perf_counter() - t)
    print(
        f"repeat evaluation: median {statistics.median(runs) * 1000:.0f} ms "
        f"(min {min(runs) * 1000:.0f}, max {max(runs) * 1000:.0f}), {len(again.new_notifications)} new"
    )

    rules = thresholds()
    kinds = sorted({r.scope.kind for r in rules})
    with Session(engine) as session:
        t = time.perf_counter()
        history = date(2026, 11, 1) - timedelta(days=HISTORY_DAYS)
        end = NOW.date() + timedelta(days=1)
        by_kind = {
            k: queries.spend_rows(
                session, policy=SpendPolicy(), windows=[(history, end)], dims=[] if k == "company" else [k]
            )
            for k in kinds
        }
        query_s = time.perf_counter() - t
    t = time.perf_counter()
    found = evaluate_thresholds(SpendIndex.from_kinds(by_kind), rules, NOW)
    rule_s = time.perf_counter() - t
    print(
        f"thresholds alone: {len(kinds)} aggregate queries {query_s * 1000:.0f} ms "
        f"({sum(len(v) for v in by_kind.values()):,} daily rows), 100 thresholds {rule_s * 1000:.0f} ms, "
        f"{len(found)} findings"
    )


if __name__ == "__main__":
    main()
