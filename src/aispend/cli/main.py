"""Entry point of the `aispend` console script: registers each command group."""

from __future__ import annotations

import typer

from aispend import __version__
from aispend.cli import (
    db,
    demo,
    governance,
    ingest,
    ingest_calls,
    ingest_focus,
    jobs,
    reconcile,
    report,
    report_spend,
    reprice,
    shadow,
    shadow_ingest,
    shadow_report,
    slack,
    sync,
)
from aispend.cli.errors import AispendGroup

app = typer.Typer(
    name="aispend",
    help="Govern your company's AI spend: ledger, reports, budget alerts and the Slack bot.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=AispendGroup,  # database and file-system errors: one clear line, not a traceback
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"aispend {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version."),
) -> None:
    """The root's own options; the help text is the Typer app's."""
app.add_typer(db.app, name="db")
app.add_typer(ingest.app, name="ingest")
app.add_typer(report.app, name="report")
app.add_typer(sync.connectors_app, name="connectors")
app.add_typer(shadow.app, name="shadow")
app.command("demo")(demo.demo)
app.command("reprice")(reprice.reprice)
ingest_calls.register(ingest.app)
ingest_focus.register(ingest.app)
report_spend.register(report.app)
reconcile.register(report.app)
sync.register(app)
shadow_ingest.register(ingest.app)
shadow_report.register(report.app)
governance.register_root(app)
governance.register(report.app)
slack.register(app)  # run, digest, audit, outbox
app.add_typer(jobs.app, name="jobs")
app.command("run")(jobs.run_command)


if __name__ == "__main__":
    app()
