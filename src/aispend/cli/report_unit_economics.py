"""`aispend report unit-economics`: AI cost against AI-product revenue and gross margin."""

from __future__ import annotations

from typing import Annotated

import typer

from aispend.cli.reconcile import parse_month
from aispend.cli.report_spend import emit, today_in_company_tz
from aispend.cli.runtime import err_console, runtime
from aispend.core.reports.render import render_unit_economics
from aispend.core.reports.unit_economics import unit_economics_report


def register(app: typer.Typer) -> None:
    app.command("unit-economics")(report_unit_economics)


def report_unit_economics(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option("--month", help="Calendar month YYYY-MM (default: this month).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stable JSON instead of a table.")] = False,
) -> None:
    """AI cost per feature and for the company against revenue (23% benchmark, 30% review, 10% of margin).

    Revenue and gross margin come from `aispend ingest revenue`; the AI cost is the one spend
    definition, by feature; cost per outcome is beside each line.
    """
    rt = runtime(ctx)
    today = today_in_company_tz(rt.clock(), rt.settings.tz)
    try:
        first = parse_month(month) if month else today.replace(day=1)
    except ValueError as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    policy = rt.spend_policy()
    with rt.engine().connect() as conn:
        report = unit_economics_report(conn, month=first, today=today, policy=policy)
    emit(report, as_json, render_unit_economics(report) if not as_json else None)
