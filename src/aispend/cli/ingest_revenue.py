"""`aispend ingest revenue FILE...`: monthly AI-product revenue and gross margin per feature (and customer)."""

from __future__ import annotations

from pathlib import Path

import typer

from aispend.cli.runtime import err_console, runtime
from aispend.connectors.files.revenue import RevenueImport, ingest_revenue_files
from aispend.core.governance.revenue import currency_notes

_FILES = typer.Argument(
    ...,
    exists=True,
    dir_okay=False,
    readable=True,
    metavar="FILE",
    help="CSV with a header: period (YYYY-MM), feature, customer (optional), revenue, gross_margin or cogs, currency.",
)


def register(app: typer.Typer) -> None:
    app.command("revenue")(ingest_revenue)


def ingest_revenue(ctx: typer.Context, files: list[Path] = _FILES) -> None:
    """Import revenue and gross margin per month and feature, for unit economics (re-importing changes nothing).

    A later file with the same period, feature and customer replaces the figures and the import says
    so. Each refused row is reported as file:line: field value: reason; the good rows are kept and
    the exit status is 1 when anything was refused. Amounts in another currency are converted at
    the dated rates of AISPEND_RATES_FILE when read.
    """
    rt = runtime(ctx)
    policy = rt.spend_policy()
    result = ingest_revenue_files(rt.engine(), files, rt.settings.currency, rt.clock())
    for rejection in result.rejections:
        err_console.print(str(rejection), markup=False, highlight=False, soft_wrap=True)
    for line in render_summary(result):
        typer.echo(line)
    for line in currency_notes(result.figures, policy):
        if line.startswith("warning"):
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            typer.echo(line)
    raise typer.Exit(0 if result.ok else 1)


def render_summary(result: RevenueImport) -> list[str]:
    written = result.written
    lines = [
        f"revenue import: {result.files} file{'s' if result.files != 1 else ''}",
        f"  rows read  {result.rows_read}",
        f"  inserted   {written.inserted}",
        f"  restated   {len(written.restated)}",
        f"  unchanged  {written.unchanged}",
        f"  refused    {len(result.rejections)}",
    ]
    lines.extend(str(r) for r in written.restated)
    return lines
