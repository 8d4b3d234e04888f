"""`aispend report reconcile`: per-call logs against the bills, per provider and day."""

from __future__ import annotations

import json
from datetime import date

import typer
from rich.console import Console

from aispend.cli.runtime import err_console, runtime
from aispend.core.reports.reconcile import reconcile_period
from aispend.core.reports.reconcile_render import report_json, report_tables
from aispend.core.rules.reconciliation import period_totals
from aispend.core.timeutil import month_start, next_month


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile_cmd)


def parse_month(text: str) -> date:
    try:
        year, month = text.strip().split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise ValueError(f"--month must be YYYY-MM, got {text!r}") from None


def reconcile_cmd(
    ctx: typer.Context,
    month: str | None = typer.Option(None, "--month", help="Calendar month YYYY-MM (default: this month, UTC)."),
    as_json: bool = typer.Option(False, "--json", help="Stable JSON output."),
) -> None:
    """Bill total vs per-call total per provider and day: drift in money and percent, and likely causes."""
    rt = runtime(ctx)
    try:
        start = parse_month(month) if month else month_start(rt.clock().date())
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    with rt.engine().connect() as conn:
        days = reconcile_period(conn, start=start, end=next_month(start), basis=rt.settings.cost_basis)
    totals = period_totals(days)
    label = start.strftime("%Y-%m")
    if as_json:
        typer.echo(json.dumps(report_json(label, days, totals, rt.settings.cost_basis), indent=2))
        return
    if not days:
        typer.echo(f"no bill lines and no per-call logs for {label}")
        return
    console = Console()
    for table in report_tables(label, days, totals, rt.settings.cost_basis):
        console.print(table)
