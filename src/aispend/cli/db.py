"""`aispend db ...`: schema management."""

from __future__ import annotations

import typer

from aispend.cli.runtime import runtime

app = typer.Typer(help="Manage the ledger database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(ctx: typer.Context) -> None:
    """Apply every pending migration to AISPEND_DATABASE_URL (safe to run again)."""
    runtime(ctx).engine()
    typer.echo("database is up to date")
