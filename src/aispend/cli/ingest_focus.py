"""`aispend ingest focus FILE...`: import FOCUS billing exports (CSV, gzip'd CSV, Parquet)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console

from aispend.cli.runtime import runtime
from aispend.connectors.files.focus import FocusNormalizer, FocusSummary, Rejection, ingest_focus_files
from aispend.core.money import decimal_str
from aispend.core.rules.attribution import load_rules

_FILES = typer.Argument(
    ...,
    exists=True,
    dir_okay=False,
    readable=True,
    metavar="FILE",
    help="FOCUS 1.0–1.3 export files: .csv, .csv.gz or .parquet (the format is read from the content).",
)


def register(app: typer.Typer) -> None:
    app.command("focus")(ingest_focus)


def ingest_focus(ctx: typer.Context, files: list[Path] = _FILES) -> None:
    """Import FOCUS billing exports into the ledger (idempotent: a re-import or restatement updates).

    Each rejected row is reported as FILE:LINE: REASON (Parquet: FILE:row N); the good rows are kept
    and the exit status is 1 when anything was rejected. AI spend is ServiceCategory "AI and Machine
    Learning" or a service in AISPEND_AI_SERVICE_NAMES; attribution follows AISPEND_ATTRIBUTION_FILE.
    """
    rt = runtime(ctx)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    rules = load_rules(_configured(rt.settings.attribution_file))  # an AttributionError: said by the root group
    engine = rt.engine()
    normalizer = FocusNormalizer.create(
        rules, rt.settings.ai_service_names, engine.dialect.name, rt.settings.ai_service_patterns
    )

    def report(rejection: Rejection) -> None:
        err.print(f"rejected {rejection}", markup=False)

    summary = ingest_focus_files(engine, files, normalizer, now=rt.clock(), on_reject=report)
    for line in render_summary(summary):
        typer.echo(line)
    if any(currency != rt.settings.currency for currency in summary.billed):
        rt.say_currency_conversions()
    raise typer.Exit(0 if summary.ok else 1)


def _configured(path: Path | None) -> Path | None:
    # `AISPEND_ATTRIBUTION_FILE=` (empty, as in .env.example) arrives as Path("") == "."; it means unset.
    if path is None or str(path) in ("", "."):
        return None
    return path


def render_summary(summary: FocusSummary) -> list[str]:
    """Plain lines (exact amounts, no rounding: they are checked against the bill)."""
    written = summary.written
    files = f"{summary.files} file{'s' if summary.files != 1 else ''}"
    if summary.failed_files:
        files += f" ({summary.failed_files} unreadable)"
    lines = [
        f"FOCUS import: {files}",
        f"  rows read  {summary.rows_read}",
        f"  inserted   {written.inserted}",
        f"  updated    {written.updated}",
        f"  unchanged  {written.unchanged}",
        f"  rejected   {summary.rejected}",
    ]
    if not summary.billed:
        lines.append("  billed cost: nothing imported")
    for currency in sorted(summary.billed):
        ai = summary.ai_billed.get(currency, Decimal(0))
        lines.append(f"  billed cost  {_amount(summary.billed[currency])} {currency}")
        lines.append(f"    of which AI-classified  {_amount(ai)} {currency}")
    if summary.billed:
        lines.append(f"  AI-classified rows  {summary.ai_rows}")
    return lines


def _amount(value: Decimal) -> str:
    return decimal_str(value) if value != 0 else "0"
