"""`aispend report ...`: the command group; each report registers itself from its own module."""

from __future__ import annotations

import typer

app = typer.Typer(help="Reports over the ledger (tables on a terminal, stable JSON with --json).", no_args_is_help=True)
