"""`aispend ingest expenses FILE... --format F`: store expense/card export lines (idempotent)."""

from __future__ import annotations

from pathlib import Path

import typer

from aispend.cli.runtime import err_console, runtime
from aispend.connectors.expenses.formats import FORMATS
from aispend.connectors.expenses.ingest import ingest_files
from aispend.connectors.expenses.parse import parse_mapping


def register(app: typer.Typer) -> None:
    app.command("expenses")(expenses_cmd)


def expenses_cmd(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Export CSV files."),
    fmt: str | None = typer.Option(
        None, "--format", help=f"Export layout: {'|'.join(FORMATS)} (default: recognised from the header)."
    ),
    map_: list[str] = typer.Option([], "--map", help="COLUMN=FIELD for a renamed column (repeatable)."),
) -> None:
    """Import expense and card exports; re-importing changes nothing. Bad rows are listed and skipped."""
    rt = runtime(ctx)
    if fmt is not None and fmt not in FORMATS:
        err_console.print(f"[red]unknown --format {fmt!r}[/red]; expected one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    result = ingest_files(rt.engine(), files, fmt, parse_mapping(map_), rt.settings, rt.clock())
    typer.echo(
        f"expenses: {result.inserted} new, {result.updated} updated, {result.unchanged} unchanged, "
        f"{len(result.errors)} skipped"
    )
    for error in result.errors:
        err_console.print(f"[red]skipped[/red] {error}")
    if result.errors:
        raise typer.Exit(1)
