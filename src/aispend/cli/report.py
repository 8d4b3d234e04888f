"""`aispend report ...`: the command group; each report is defined in its own module, imported when it runs."""

from __future__ import annotations

import typer

from aispend.cli.lazy import lazy_group, registered

COMMANDS = (
    registered(
        "top",
        "aispend.cli.report_spend:register",
        "The most expensive workflows (or teams, models...) in a week or month, with change vs the period before.",
    ),
    registered("spend", "aispend.cli.report_spend:register", "AI spend between two dates, grouped by one dimension."),
    registered(
        "reconcile",
        "aispend.cli.reconcile:register",
        "Bill total vs per-call total per provider and day: drift in money and percent, and likely causes.",
    ),
    registered(
        "shadow",
        "aispend.cli.shadow_report:register",
        "Shadow-AI findings for a month: new vendors, spend, consolidation, duplicates, overlap, spikes.",
    ),
    registered(
        "status",
        "aispend.cli.governance:register",
        "Every scope's level with the numbers behind it (thresholds, share, changes, quality).",
    ),
    registered(
        "changes",
        "aispend.cli.governance:register",
        "Week-over-week or month-over-month change per scope, explained (volume, mix, cache, price).",
    ),
    registered(
        "agents",
        "aispend.cli.governance:register",
        "Per-run caps, token budgets, escalation gates, cost per run and per outcome.",
    ),
    registered(
        "models",
        "aispend.cli.governance:register",
        "Quarterly model review: tiers, what-if on a cheaper model, caching/batch/self-hosting.",
    ),
    registered(
        "unit-economics",
        "aispend.cli.report_unit_economics:register",
        "AI cost per feature and for the company against revenue (23% benchmark, 30% review, 10% of margin).",
    ),
)

app = typer.Typer(
    help="Reports over the ledger (tables on a terminal, stable JSON with --json).",
    no_args_is_help=True,
    cls=lazy_group(COMMANDS),
)
