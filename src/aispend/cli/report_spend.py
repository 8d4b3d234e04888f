"""`aispend report top` and `aispend report spend`."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console

from aispend.cli.runtime import err_console, runtime
from aispend.core.ledger.queries import DIMENSIONS
from aispend.core.reports.load import spend_report, top_report
from aispend.core.reports.render import render_spend, render_top
from aispend.core.timeutil import parse_date


def register(app: typer.Typer) -> None:
    app.command("top")(report_top)
    app.command("spend")(report_spend)


def _date_option(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from None


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(choices)}", param_hint=name)
    return value


def today_in_company_tz(now: datetime, tz: Any) -> date:
    return now.astimezone(tz).date()


def emit(report: dict[str, Any], as_json: bool, renderable: Any) -> None:
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        console = Console() if sys.stdout.isatty() else Console(width=160)
        console.print(renderable)


def report_top(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="week (Monday-Sunday) or month.")] = "week",
    at: Annotated[str | None, typer.Option(help="A day in the period (YYYY-MM-DD); default today.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many rows.")] = 5,
    by: Annotated[str, typer.Option(help=f"Group by: {', '.join(DIMENSIONS)}.")] = "workflow",
    as_json: Annotated[bool, typer.Option("--json", help="Print the stable JSON instead of a table.")] = False,
) -> None:
    """The most expensive workflows (or teams, models...) in a week or month, with change vs the period before."""
    _check_choice(period, ("week", "month"), "--period")
    _check_choice(by, DIMENSIONS, "--by")
    rt = runtime(ctx)
    today = today_in_company_tz(rt.clock(), rt.settings.tz)
    at_day = _date_option(at, "--at") or today
    with rt.engine().connect() as conn:
        report = top_report(conn, by=by, kind=period, at=at_day, today=today, limit=limit, policy=rt.spend_policy())
    emit(report, as_json, render_top(report) if not as_json else None)


def report_spend(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD); default 30 days ago.")] = None,
    until: Annotated[
        str | None, typer.Option(help="Day after the last (YYYY-MM-DD, exclusive); default tomorrow.")
    ] = None,
    by: Annotated[str, typer.Option(help=f"Group by: {', '.join(DIMENSIONS)}.")] = "workflow",
    as_json: Annotated[bool, typer.Option("--json", help="Print the stable JSON instead of a table.")] = False,
) -> None:
    """AI spend between two dates, grouped by one dimension."""
    _check_choice(by, DIMENSIONS, "--by")
    rt = runtime(ctx)
    today = today_in_company_tz(rt.clock(), rt.settings.tz)
    since_day = _date_option(since, "--since") or today - timedelta(days=30)
    until_day = _date_option(until, "--until") or today + timedelta(days=1)
    try:
        with rt.engine().connect() as conn:
            report = spend_report(conn, by=by, since=since_day, until=until_day, policy=rt.spend_policy())
    except ValueError as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    emit(report, as_json, render_spend(report) if not as_json else None)
