"""`aispend shadow ...`: check expense and card exports for AI spend without storing anything."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from aispend.cli.runtime import err_console, runtime
from aispend.connectors.expenses.formats import FORMATS
from aispend.connectors.expenses.ingest import scan_files
from aispend.connectors.expenses.parse import parse_mapping
from aispend.core.shadow.service import build_matcher

app = typer.Typer(help="Shadow AI: AI spend on corporate cards and expense reports.", no_args_is_help=True)

FORMAT_HELP = f"Export layout: {'|'.join(FORMATS)} (default: recognise any platform's column names)."


@app.command("scan")
def scan_cmd(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Export CSV files."),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    map_: list[str] = typer.Option([], "--map", help="COLUMN=FIELD for a renamed column (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per input row (JSON lines)."),
) -> None:
    """Classify every row (AI or not, vendor, duplicate, reason) without storing anything."""
    rt = runtime(ctx)
    if fmt is not None and fmt not in FORMATS:
        err_console.print(f"[red]unknown --format {fmt!r}[/red]; expected one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    matcher = build_matcher(rt.settings)
    settings = rt.settings
    rows, errors = scan_files(
        files,
        fmt,
        parse_mapping(map_),
        matcher,
        settings.currency,
        settings.shadow_duplicate_window_days,
        settings.shadow_refund_window_days,
    )
    for row in rows:
        if as_json:
            typer.echo(json.dumps(row, ensure_ascii=False))
            continue
        if row.get("error"):
            continue  # listed on stderr below
        mark = "AI " if row["is_ai"] else ("?  " if row["needs_review"] else "   ")
        dup = " DUPLICATE" if row["duplicate_of"] else ""
        typer.echo(
            f"{mark}{row['file']}:{row['row']:<5} {str(row['merchant'])[:32]:<32} {row['amount']:>10} "
            f"{row['currency']} {row['vendor'] or '-'}{dup}  ({row['reason']})"
        )
    for error in errors:
        err_console.print(f"[red]skipped[/red] {error}")
    if errors:
        raise typer.Exit(1)
