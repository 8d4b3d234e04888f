"""`aispend demo`: load the synthetic company into the ledger and show this week's review."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console

from aispend.cli.report_spend import today_in_company_tz
from aispend.cli.runtime import runtime
from aispend.core.money import format_money
from aispend.core.pricing import price_book
from aispend.core.timeutil import parse_date
from aispend.demo.company import COMPANY, RUNAWAY_WORKFLOW
from aispend.demo.generate import DEFAULT_DAYS, DEFAULT_SEED
from aispend.demo.load import load_demo
from aispend.reports.load import top_report
from aispend.reports.render import render_top


def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic company (same seed, same data).")] = DEFAULT_SEED,
    days: Annotated[int, typer.Option(min=14, max=400, help="Days of per-call logs to generate.")] = DEFAULT_DAYS,
    as_of: Annotated[str | None, typer.Option(help="Pretend today is this day (YYYY-MM-DD).")] = None,
) -> None:
    """Load a synthetic 200-person company (90 days of per-call logs) and print the weekly review.

    Uses AISPEND_DATABASE_URL (SQLite ./aispend.db by default). Safe to run again: nothing is doubled.
    """
    rt = runtime(ctx)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    today = parse_date(as_of) if as_of else today_in_company_tz(rt.clock(), rt.settings.tz)
    started = time.perf_counter()
    console.print(f"[bold]aispend demo[/bold] — {COMPANY}, a synthetic 200-person SaaS (seed {seed})")
    console.print(f"Loading {days} days of per-call logs ending {today} into {_db_label(rt.settings.database_url)} …")
    summary = load_demo(
        rt.engine(), end=today, now=rt.clock(), days=days, seed=seed, prices=price_book(rt.settings)
    )
    total = ", ".join(format_money(v, c) for c, v in summary.cost_inserted.items()) or "nothing new"
    unpriced = ", ".join(f"{m} ({n:,} calls)" for (_, m), n in summary.unpriced_models.items())
    console.print(
        f"{summary.rows_read:,} calls read, {summary.inserted:,} new ({total}), "
        f"{summary.duplicates:,} already loaded; unpriced model kept apart: {unpriced or 'none'}"
    )
    last_week = today - timedelta(days=7)
    with rt.engine().connect() as conn:
        report = top_report(conn, by="workflow", kind="week", at=last_week, today=today, limit=5)
    console.print()
    console.print("[bold]Weekly review[/bold] — the five most expensive AI workflows last week")
    console.print(render_top(report))
    runaway = next((r for r in report["rows"] if r["key"] == RUNAWAY_WORKFLOW), None)
    if runaway and runaway["share_pct"]:
        console.print(
            f"\n[red]●[/red] {runaway['label']} takes {runaway['share_pct']}% of all AI spend "
            f"({'+' + runaway['change_pct'] if runaway['change_pct'] else 'new'}% week over week): above the 20% "
            "share-of-spend line, so it is red even though the total is within budget."
        )
    console.print(
        f"\nDone in {time.perf_counter() - started:.1f} s. Try: aispend report top --period month · "
        "aispend report spend --by model"
    )


def _db_label(url: str) -> str:
    return url.split("@")[-1] if "@" in url else url
