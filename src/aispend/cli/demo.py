"""`aispend demo`: load the synthetic company into the ledger and show this week's review."""

from __future__ import annotations

import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine

from aispend.cli.report_spend import _date_option
from aispend.cli.runtime import runtime
from aispend.core.governance import store
from aispend.core.ledger.db import session_scope
from aispend.core.money import format_money
from aispend.core.pricing import price_book
from aispend.core.reports.load import top_report
from aispend.core.reports.render import render_top
from aispend.core.rules.findings import COMPANY as COMPANY_SCOPE
from aispend.core.rules.thresholds import Threshold, levels_from_budget
from aispend.core.settings import Settings
from aispend.core.timeutil import start_of_day
from aispend.demo.company import COMPANY, RUNAWAY_WORKFLOW
from aispend.demo.generate import DEFAULT_AS_OF, DEFAULT_DAYS, DEFAULT_SEED
from aispend.demo.load import load_demo


def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic company (same seed, same data).")] = DEFAULT_SEED,
    days: Annotated[int, typer.Option(min=14, max=400, help="Days of per-call logs to generate.")] = DEFAULT_DAYS,
    as_of: Annotated[
        str, typer.Option(help="The day the demo is a snapshot of (YYYY-MM-DD); its logs end the day before.")
    ] = DEFAULT_AS_OF.isoformat(),
) -> None:
    """Load a synthetic 200-person company (90 days of per-call logs) and print the weekly review.

    The demo is a snapshot of a fixed Monday, 2026-11-23 unless --as-of moves it, so that it shows the
    README's figures on any date. Uses AISPEND_DATABASE_URL (SQLite ./aispend.db by default). Safe to run
    again: nothing is doubled.
    """
    rt = runtime(ctx)
    today = _date_option(as_of, "--as-of") or DEFAULT_AS_OF
    # The demo's one clock: loading, thresholds, evaluation, the outbox and the digest all happen at the
    # start of the as-of day (every loaded day complete). It never reads the wall clock.
    now = start_of_day(today)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    started = time.perf_counter()
    console.print(f"[bold]aispend demo[/bold] — {COMPANY}, a synthetic 200-person SaaS (seed {seed})")
    console.print(
        f"As of {today:%A} {today} (--as-of moves it): loading {days} days of per-call logs up to "
        f"{today - timedelta(days=1)} into {_db_label(rt.settings.database_url)} …"
    )
    summary = load_demo(rt.engine(), end=today, now=now, days=days, seed=seed, prices=price_book(rt.settings))
    total = ", ".join(format_money(v, c) for c, v in summary.cost_inserted.items()) or "nothing new"
    unpriced = ", ".join(f"{m} ({n:,} calls)" for (_, m, _why), n in summary.unpriced_models.items())
    console.print(
        f"{summary.rows_read:,} calls read, {summary.inserted:,} new ({total}), "
        f"{summary.duplicates:,} already loaded; unpriced model kept apart: {unpriced or 'none'}"
    )
    last_week = today - timedelta(days=7)
    with rt.engine().connect() as conn:
        report = top_report(
            conn, by="workflow", kind="week", at=last_week, today=today, limit=5, policy=rt.spend_policy()
        )
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
    _show_slack(rt.engine(), rt.settings, now, console)
    console.print(f"\nDone in {time.perf_counter() - started:.1f} s. Try, on the same snapshot:")
    for command in _next_steps(today):
        console.print(f"  {command}", soft_wrap=True)


def _next_steps(today: date) -> tuple[str, ...]:
    """Commands to try next, dated: without a date they would report the real today, not the demo's."""
    week = today - timedelta(days=today.weekday() + 7)  # the review's week
    last_day = today - timedelta(days=1)  # the last day loaded (the as-of day itself is not)
    return (
        f"aispend report top --at {week} --json",
        f"aispend report top --period month --at {last_day}",
        f"aispend report spend --by model --since {last_day.replace(day=1)} --until {today}",
        f"aispend report status --at {today}",
    )


DEMO_BUDGET = Decimal(3000)  # a monthly company budget the demo stays within (yellow at 80%)


def _demo_budget(engine: Engine, currency: str, now: datetime) -> None:
    """A monthly company budget, unless one is set already (a person's change is kept)."""
    with session_scope(engine) as session:
        if any(t.scope_kind == "company" for t in store.list_thresholds(session)):
            return
        yellow, red = levels_from_budget(DEMO_BUDGET)
        store.set_threshold(
            session, Threshold(COMPANY_SCOPE, "month", yellow, red, currency), actor="aispend demo", now=now
        )


def _show_slack(engine: Engine, settings: Settings, now: datetime, console: Console) -> None:
    """What Slack would receive: governance evaluates, its alerts go through the bot's outbox, then the
    weekly digest. Always rendered in the terminal (a demo never posts to a real workspace)."""
    # Imported when the demo runs: every `aispend` start (`--help` included) loads this module, and
    # the bot and governance cost more to import than all the rest of it.
    from aispend.app import evaluate_and_deliver, wire
    from aispend.bot.digest import gather_digest, post_digest

    preview = settings.model_copy(
        update={
            "slack_bot_token": None,
            "slack_finance_channel": settings.slack_finance_channel or "#ai-finance",
            "slack_leadership_channel": settings.slack_leadership_channel or "#leadership",
            "slack_governance_channel": settings.slack_governance_channel or "#ai-governance",
        }
    )
    _demo_budget(engine, preview.currency, now)
    console.print("\n[bold]What Slack would receive[/bold] (no Slack token: shown here instead)")
    sys.stdout.flush()
    done = evaluate_and_deliver(engine, preview, now, stream=sys.stdout)
    result, delivered = done.result, done.delivered
    assert delivered is not None
    console.print(
        f"\n{len(result.new_notifications)} new governance notification(s); "
        f"{delivered.notifications} handed to the outbox, {delivered.sent} message(s) delivered."
    )
    for failed in delivered.set_aside:
        console.print(failed.line, markup=False, soft_wrap=True)
    wired = wire(preview, engine, lambda: now, stream=sys.stdout)
    commands = wired.bot.commands
    data = gather_digest(commands.ledger, commands.governance, now, shadow=commands.shadow)
    post_digest(engine, wired.bot.outbox, data, preview.slack_governance_channel)


def _db_label(url: str) -> str:
    return url.split("@")[-1] if "@" in url else url
