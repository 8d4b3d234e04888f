"""`aispend report shadow [--month YYYY-MM] [--json]`: the month's shadow-AI findings with evidence rows."""

from __future__ import annotations

import json
from datetime import date

import typer

from aispend.cli.runtime import runtime
from aispend.core.shadow.render import AUDIENCES, FINANCE, report_json, report_text
from aispend.core.shadow.service import monthly_report


def register(app: typer.Typer) -> None:
    app.command("shadow")(shadow_cmd)


def _month(text: str) -> date:
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM, got {text!r}") from None


def shadow_cmd(
    ctx: typer.Context,
    month: str | None = typer.Option(None, "--month", help="YYYY-MM (default: the last complete month)."),
    as_json: bool = typer.Option(False, "--json", help="Stable JSON."),
    audience: str = typer.Option(
        FINANCE, "--audience", help="finance: per-person lines and evidence; general: teams only."
    ),
) -> None:
    """Shadow-AI findings for a month: new vendors, spend, consolidation, duplicates, overlap, spikes."""
    rt = runtime(ctx)
    if audience not in AUDIENCES:
        raise typer.BadParameter(f"--audience must be one of {', '.join(AUDIENCES)}")
    target = _month(month) if month else None
    report = monthly_report(rt.engine(), target, now=rt.clock(), settings=rt.settings)
    if as_json:
        typer.echo(json.dumps(report_json(report, audience, rt.settings.shadow_min_group_size), indent=2))
    else:
        typer.echo(report_text(report, audience, rt.settings.shadow_min_group_size))
