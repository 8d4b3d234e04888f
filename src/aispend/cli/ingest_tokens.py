"""`aispend ingest-tokens create|list|revoke` and `aispend serve-ingest`: the live ingest endpoints."""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aispend.cli.runtime import err_console, runtime
from aispend.connectors.otlp.receiver import build_receiver
from aispend.connectors.otlp.tokens import TokenError, create_token, list_tokens, revoke_token
from aispend.jobs.logs import configure_logging

app = typer.Typer(help="Bearer tokens of the live ingest endpoints (OTLP /v1/traces, /v1/calls).", no_args_is_help=True)
log = logging.getLogger("aispend.ingest")


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The token's name (shown in counters and status).")],
    workflow: Annotated[str, typer.Option("--workflow", help="Default workflow of calls sent with it.")] = "",
    team: Annotated[str, typer.Option("--team", help="Default team.")] = "",
    customer: Annotated[str, typer.Option("--customer", help="Default customer.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help='Print {"name": ..., "token": ...}.')] = False,
) -> None:
    """Create a token; it is printed once (only its hash is stored)."""
    rt = runtime(ctx)
    try:
        token = create_token(rt.engine(), name, now=rt.clock(), workflow=workflow, team=team, customer=customer)
    except TokenError as exc:
        err_console.print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps({"name": name, "token": token}))
        return
    typer.echo(token)
    err_console.print(
        f"ingest token {name!r} created: send it as `Authorization: Bearer <token>`; it is not shown again.",
        highlight=False,
    )


@app.command("list")
def list_cmd(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Stable JSON output.")] = False
) -> None:
    """Every token: default attribution, last batch, spans accepted and refused (never the token)."""
    rt = runtime(ctx)
    tokens = list_tokens(rt.engine())
    if as_json:
        rows = [
            {
                "name": t.name,
                "workflow": t.workflow,
                "team": t.team,
                "customer": t.customer,
                "created_at": t.created_at.isoformat() if t.created_at else None,
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
                "last_batch_at": t.last_batch_at.isoformat() if t.last_batch_at else None,
                "spans_accepted": t.spans_accepted,
                "spans_refused": t.spans_refused,
            }
            for t in tokens
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not tokens:
        typer.echo("No ingest tokens. Create one: aispend ingest-tokens create NAME [--workflow W]")
        return
    table = Table(title="ingest tokens")
    for column in ("name", "state", "workflow", "team", "customer", "last batch (UTC)", "accepted", "refused"):
        table.add_column(column)
    for t in tokens:
        table.add_row(
            t.name,
            "revoked" if t.revoked_at else "active",
            t.workflow,
            t.team,
            t.customer,
            t.last_batch_at.strftime("%Y-%m-%d %H:%M:%S") if t.last_batch_at else "never",
            f"{t.spans_accepted:,}",
            f"{t.spans_refused:,}",
        )
    Console().print(table)


@app.command("revoke")
def revoke(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token: its requests get 401 from now on."""
    rt = runtime(ctx)
    if not revoke_token(rt.engine(), name, now=rt.clock()):
        err_console.print(f"[red]error[/red] no active ingest token named {name!r}", highlight=False)
        raise typer.Exit(2)
    typer.echo(f"ingest token {name!r} revoked")


def serve_ingest(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option("--port", help="Listen here instead of AISPEND_INGEST_PORT.")] = None,
) -> None:
    """Run the live ingest receiver alone (OTLP/HTTP /v1/traces and JSON /v1/calls) until SIGTERM/SIGINT."""
    rt = runtime(ctx)
    settings = rt.settings
    configure_logging(settings.log_format, settings.log_level)
    engine = rt.engine()
    if port is None and settings.ingest_port is None:
        err_console.print("[red]setting problem[/red] AISPEND_INGEST_PORT is blank: set a port or pass --port")
        raise typer.Exit(2)
    receiver = build_receiver(settings, engine, clock=rt.clock, port=port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    receiver.start()
    log.info(
        "ingest receiver on http://%s:%d (/v1/traces, /v1/calls)",
        settings.ingest_host,
        receiver.port,
        extra={"ingest_port": receiver.port},
    )
    stop.wait()
    receiver.stop()
    log.info("ingest receiver stopped")
