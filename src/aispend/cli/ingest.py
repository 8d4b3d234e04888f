"""`aispend ingest ...`: the command group; each input format registers itself from its own module."""

from __future__ import annotations

import typer

app = typer.Typer(help="Import files into the ledger (idempotent: re-importing adds nothing).", no_args_is_help=True)
