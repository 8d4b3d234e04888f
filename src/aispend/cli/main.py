"""Entry point of the `aispend` console script: registers each command group."""

from __future__ import annotations

import typer

from aispend.cli import db, governance, ingest, report

app = typer.Typer(
    name="aispend",
    help="Govern your company's AI spend: ledger, reports, budget alerts and the Slack bot.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(ingest.app, name="ingest")
app.add_typer(report.app, name="report")
governance.register_root(app)
governance.register(report.app)


if __name__ == "__main__":
    app()
