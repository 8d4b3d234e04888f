"""Entry point of the `aispend` console script: lists each command, imports its module when it runs.

Start-up (issue 13) imports no command module: `aispend --help` shows the lines below, and a command
imports only what it needs (see `aispend.cli.lazy`). A new command is added here, with its module and
the first paragraph of its help (tests/scenarios/test_cli_startup.py checks that line against the command's own).
"""

from __future__ import annotations

import typer

from aispend import __version__
from aispend.cli.errors import AispendGroup
from aispend.cli.lazy import command, group, lazy_group, registered

COMMANDS = (
    command(
        "demo",
        "aispend.cli.demo:demo",
        "Load a synthetic 200-person company (90 days of per-call logs) and print the weekly review.",
    ),
    command(
        "reprice",
        "aispend.cli.reprice:reprice",
        "Re-price calls whose cost was computed from tokens, or that were unpriced, with today's price data.",
    ),
    registered(
        "sync",
        "aispend.cli.sync:register",
        "Pull bills and usage from each source into the ledger (idempotent; failures do not stop others).",
    ),
    registered(
        "status",
        "aispend.cli.sync:register",
        "Per source: last success, last error, freshest data point and staleness.",
    ),
    registered(
        "evaluate",
        "aispend.cli.governance:register_root",
        "Evaluate every rule now, advance alert states, record notifications (idempotent), deliver them.",
    ),
    registered(
        "estimate",
        "aispend.cli.governance:register_root",
        "Monthly cost = DAU x actions x tokens x price (x agentic multiplier), small vs frontier.",
    ),
    registered(
        "digest",
        "aispend.cli.slack:register",
        "The weekly top-5 digest: `--dry-run` prints it, `--post` posts it.",
    ),
    registered("audit", "aispend.cli.slack:register", "Every change made from Slack: who, what, before, after."),
    registered(
        "outbox",
        "aispend.cli.slack:register",
        "Messages not yet in Slack (pending, in doubt, failed); `--deliver` sends the pending ones.",
    ),
    command(
        "run",
        "aispend.cli.jobs:run_command",
        "Run the scheduler (and the Slack app when configured) until SIGTERM/SIGINT.",
    ),
    group("db", "aispend.cli.db:app", "Manage the ledger database schema."),
    group("ingest", "aispend.cli.ingest:app", "Import files into the ledger (idempotent: re-importing adds nothing)."),
    group(
        "report",
        "aispend.cli.report:app",
        "Reports over the ledger (tables on a terminal, stable JSON with --json).",
    ),
    group("connectors", "aispend.cli.sync:connectors_app", "Inspect the bill and usage sources."),
    group("shadow", "aispend.cli.shadow:app", "Shadow AI: AI spend on corporate cards and expense reports."),
    registered(
        "thresholds",
        "aispend.cli.governance:register_root",
        "Budget thresholds per scope and period (yellow and red, in money).",
    ),
    registered(
        "workflows",
        "aispend.cli.governance:register_root",
        "Workflows: owners, per-run cost caps and per-call token budgets.",
    ),
    registered("alerts", "aispend.cli.governance:register_root", "Alert states: list, acknowledge, snooze."),
    group("jobs", "aispend.cli.jobs:app", "Scheduled jobs: list them, run one now."),
    group(
        "ingest-tokens",
        "aispend.cli.ingest_tokens:app",
        "Bearer tokens of the live ingest endpoints (OTLP /v1/traces, /v1/calls).",
    ),
    command(
        "serve-ingest",
        "aispend.cli.ingest_tokens:serve_ingest",
        "Run the live ingest receiver alone (OTLP/HTTP /v1/traces and JSON /v1/calls) until SIGTERM/SIGINT.",
    ),
)

app = typer.Typer(
    name="aispend",
    help="Govern your company's AI spend: ledger, reports, budget alerts and the Slack bot.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Database and file-system errors: one clear line, not a traceback. Commands: loaded when used.
    cls=lazy_group(COMMANDS, base=AispendGroup),
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


if __name__ == "__main__":
    app()
