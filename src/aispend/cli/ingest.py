"""`aispend ingest ...`: the command group; each input format is defined in its own module, imported when used."""

from __future__ import annotations

import typer

from aispend.cli.lazy import lazy_group, registered

COMMANDS = (
    registered(
        "calls",
        "aispend.cli.ingest_calls:register",
        "Import per-call cost logs. Rows without a cost are priced with genai-prices at their own time.",
    ),
    registered(
        "focus",
        "aispend.cli.ingest_focus:register",
        "Import FOCUS billing exports into the ledger (idempotent: a re-import or restatement updates).",
    ),
    registered(
        "revenue",
        "aispend.cli.ingest_revenue:register",
        "Import revenue and gross margin per month and feature, for unit economics (re-importing changes nothing).",
    ),
    registered(
        "expenses",
        "aispend.cli.shadow_ingest:register",
        "Import expense and card exports; re-importing changes nothing. Bad rows are listed and skipped.",
    ),
)

app = typer.Typer(
    help="Import files into the ledger (idempotent: re-importing adds nothing).",
    no_args_is_help=True,
    cls=lazy_group(COMMANDS),
)
