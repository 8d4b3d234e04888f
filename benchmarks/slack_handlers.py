"""Handler time of `/aispend top` and `/aispend workflow NAME` on a year of rollups.

    python benchmarks/slack_handlers.py [--database-url URL] [--workflows 30] [--models 3] [--runs 50]

Builds a fresh ledger (SQLite in a temporary directory unless --database-url is given; that database must be
empty), fills a year of hourly and daily rollups (workflows x models x 24 x 365 hourly rows), agent runs and
outcomes, then times the command handlers (parse + query + render + limits check, everything but the HTTP round trip and
the outbox write), with the governance module wired as `wire()` does (thresholds on the company, a team and a
workflow). Target: p95 < 200 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session

from aispend.bot.data import GovernanceSource, LedgerData
from aispend.bot.handlers import CommandContext, run_command
from aispend.bot.permissions import Permissions
from aispend.core.governance import store
from aispend.core.governance.config import GovernanceConfig
from aispend.core.ledger.db import make_engine, upgrade
from aispend.core.ledger.models import AgentRun, CallRollup, CallRollupDaily, Outcome, Workflow
from aispend.core.rules.findings import Scope
from aispend.core.rules.thresholds import Threshold

NOW = datetime(2026, 11, 25, 10, tzinfo=UTC)


def fill(url: str, workflows: int, models: int, days: int) -> int:
    engine = make_engine(url)
    upgrade(engine)
    first = NOW.date() - timedelta(days=days - 1)
    names = [f"workflow-{i:02d}" for i in range(workflows)]
    rows = 0
    with engine.begin() as conn:
        conn.execute(
            insert(Workflow),
            [
                {
                    "key": n,
                    "display_name": n.replace("-", " ").title(),
                    "owner": f"U{i:08d}",
                    "team": f"team-{i % 5}",
                    "outcome_unit": "ticket",
                    "currency": "USD",
                    "updated_at": NOW,
                }
                for i, n in enumerate(names)
            ],
        )
        for offset in range(days):
            day = first + timedelta(days=offset)
            batch = []
            for w, name in enumerate(names):
                for m in range(models):
                    for hour in range(24):
                        batch.append(
                            {
                                "hour": datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
                                "day": day,
                                "provider": "openai",
                                "model": f"model-{m}",
                                "workflow": name,
                                "feature": "",
                                "team": f"team-{w % 5}",
                                "customer": "",
                                "currency": "USD",
                                "calls": 40,
                                "input_tokens": 40_000,
                                "output_tokens": 8_000,
                                "cache_read_tokens": 0,
                                "cache_write_tokens": 0,
                                "cost": Decimal(w + 1) / Decimal(97) + Decimal(m),
                                "unpriced_calls": 0,
                                "unpriced_tokens": 0,
                                "zero_cost_calls": 0,
                                "latency_ms_sum": 0,
                            }
                        )
            conn.execute(insert(CallRollup), batch)
            rows += len(batch)
            # The daily rollups the ingestion keeps beside the hourly ones: 24 equal hours per key.
            summed = ("calls", "input_tokens", "output_tokens", "cost")
            daily = [
                {k: (v * 24 if k in summed else v) for k, v in b.items() if k != "hour"}
                for b in batch
                if b["hour"].hour == 0
            ]
            conn.execute(insert(CallRollupDaily), daily)
            conn.execute(
                insert(AgentRun),
                [
                    {
                        "run_id": f"{name}-{day}-{r}",
                        "workflow": name,
                        "team": "",
                        "started_at": NOW,
                        "ended_at": NOW,
                        "day": day,
                        "calls": 10,
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "cost": Decimal(1),
                        "currency": "USD",
                        "unpriced_calls": 0,
                        "outcome": "",
                    }
                    for name in names
                    for r in range(20)
                ],
            )
            conn.execute(insert(Outcome), [{"workflow": name, "day": day, "count": 15} for name in names])
    engine.dispose()
    return rows


def time_handler(ctx: CommandContext, text: str, runs: int) -> list[float]:
    run_command(ctx, text, "U0BENCH", NOW)  # warm caches and compiled statements once
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        reply = run_command(ctx, text, "U0BENCH", NOW)
        samples.append((time.perf_counter() - start) * 1000)
        assert reply.message.blocks
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[94]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--workflows", type=int, default=30)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        started = time.perf_counter()
        rows = fill(url, args.workflows, args.models, args.days)
        print(f"filled {rows:,} hourly rollup rows ({args.days} days) in {time.perf_counter() - started:.1f} s")
        engine = make_engine(url)
        with Session(engine) as session:  # thresholds, so `workflow` and `status` colour against them
            for scope in (Scope("company"), Scope("workflow", "workflow-07"), Scope("team", "team-3")):
                rule = Threshold(scope, "month", Decimal(1000), Decimal(5000), "USD")
                store.set_threshold(session, rule, actor="bench", now=NOW)
            session.commit()
        ctx = CommandContext(
            engine=engine,
            ledger=LedgerData(engine),
            governance=GovernanceSource(engine, GovernanceConfig()),  # as wire() builds it
            permissions=Permissions([], [], None, lambda: NOW),
        )
        texts = ("top", "top month 10", "workflow workflow-07", "team team-3", "workflow workflw-07", "status")
        for text in texts:
            samples = time_handler(ctx, text, args.runs)
            print(
                f"/aispend {text:<22} p50 {statistics.median(samples):7.1f} ms   p95 {p95(samples):7.1f} ms"
                f"   ({engine.dialect.name}, {len(samples)} runs)"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
