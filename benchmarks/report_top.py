"""Benchmark: `report top` latency over 12 months of hourly rollups (50 workflows, 20 teams, 10 models).

    python benchmarks/report_top.py [--postgres URL] [--runs 30]

Each workflow belongs to one team and calls two of the ten models every hour of the year, with three
customers on a fifth of the workflows: 50 x 2 x ~1.4 rows an hour, about 1.2 million rollup rows.
Times the full report (current and previous period, runs, outcomes, unpriced) as the CLI and the Slack
command run it. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import create_engine, text

from aispend.core.ledger.bulk import execute_many
from aispend.core.ledger.calls import ROLLUPS
from aispend.core.ledger.db import make_engine, upgrade
from aispend.core.ledger.spend import SpendPolicy
from aispend.core.reports.load import top_report

KEYS = [
    "hour",
    "day",
    "provider",
    "model",
    "workflow",
    "feature",
    "team",
    "customer",
    "currency",
    "calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "unpriced_calls",
    "unpriced_tokens",
    "zero_cost_calls",
    "latency_ms_sum",
]


def fill(url: str, start: date, days: int) -> int:
    engine = make_engine(url)
    upgrade(engine)
    count = 0
    with engine.begin() as conn:
        for day_index in range(days):
            day = start + timedelta(days=day_index)
            rows = []
            for hour in range(24):
                at = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
                for wf in range(50):
                    customers = ("c1", "c2", "c3") if wf % 5 == 0 else ("",)
                    for model in (wf % 10, (wf + 3) % 10):
                        for customer in customers:
                            cost = Decimal(wf + model + hour) / 1000
                            rows.append(
                                (
                                    at,
                                    day,
                                    f"p{model % 3}",
                                    f"model-{model}",
                                    f"wf-{wf}",
                                    "",
                                    f"team-{wf % 20}",
                                    customer,
                                    "USD",
                                    10,
                                    1000,
                                    100,
                                    0,
                                    0,
                                    cost,
                                    0,
                                    0,
                                    0,
                                    5000,
                                )
                            )
            execute_many(conn, ROLLUPS.insert(), keys=KEYS, rows=rows)
            count += len(rows)
        dims = "provider, model, workflow, feature, team, customer, currency"
        measures = (
            "calls, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost, unpriced_calls, "
            "unpriced_tokens, zero_cost_calls, latency_ms_sum"
        )
        sums = ", ".join(f"SUM({m})" for m in measures.split(", "))
        conn.execute(
            text(
                f"INSERT INTO call_rollup_daily (day, {dims}, {measures}) "
                f"SELECT day, {dims}, {sums} FROM call_rollup GROUP BY day, {dims}"
            )
        )
    engine.dispose()
    return count


def time_reports(url: str, today: date, runs: int) -> dict[str, tuple[float, float]]:
    engine = make_engine(url)
    results = {}
    for kind, by in (("month", "workflow"), ("week", "workflow"), ("month", "model")):
        timings = []
        with engine.connect() as conn:
            for i in range(runs):
                at = today - timedelta(days=30 * (i % 12))
                started = time.perf_counter()
                top_report(conn, by=by, kind=kind, at=at, today=today, limit=5, policy=SpendPolicy())
                timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        results[f"{kind} by {by}"] = (statistics.median(timings), timings[int(len(timings) * 0.95) - 1])
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    today = date(2026, 11, 26)
    start = today - timedelta(days=365)
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite:///{tmp}/bench.db", None)]
        if args.postgres:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            with create_engine(args.postgres).begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            sep = "&" if "?" in args.postgres else "?"
            targets.append(("PostgreSQL", f"{args.postgres}{sep}options=-csearch_path%3D{schema}", schema))
        for name, url, schema in targets:
            rows = fill(url, start, 365)
            if schema:
                with create_engine(url).begin() as conn:
                    conn.execute(text("ANALYZE"))
            for label, (median, p95) in time_reports(url, today, args.runs).items():
                print(f"{name}: report top {label} over {rows:,} rollup rows: median {median:.0f} ms, p95 {p95:.0f} ms")
            if schema:
                with create_engine(args.postgres).begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
