"""`aispend run`, `aispend digest`, `aispend audit`, `aispend outbox`: the Slack edge's commands."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session, col, select

from aispend.app import wire
from aispend.bot import audit as audit_log
from aispend.bot.digest import digest_chart, gather_digest, post_digest
from aispend.bot.models import FAILED, PENDING, SENDING, OutboxMessage
from aispend.bot.render import render_digest
from aispend.bot.transport import blocks_as_text
from aispend.cli.runtime import err_console, runtime
from aispend.core.timeutil import parse_date

console = Console()
log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add the Slack commands at the top level of the CLI."""
    app.command("digest")(digest)
    app.command("audit")(audit)
    app.command("outbox")(outbox)


def digest(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the digest; send nothing."),
    post: bool = typer.Option(False, "--post", help="Post it to AISPEND_SLACK_GOVERNANCE_CHANNEL (once per week)."),
    week: str = typer.Option("", "--week", help="Any day of the week to report (default: last complete week)."),
    chart: Path | None = typer.Option(None, "--chart", help="Also write the chart PNG to this file."),
    as_json: bool = typer.Option(False, "--json", help="With --dry-run: print the Block Kit JSON."),
) -> None:
    """The weekly top-5 digest: `--dry-run` prints it, `--post` posts it."""
    if dry_run == post:
        err_console.print("[red]choose one of --dry-run or --post[/red]")
        raise typer.Exit(2)
    rt = runtime(ctx)
    try:
        day: date | None = parse_date(week) if week else None
    except ValueError as exc:
        err_console.print(f"[red]--week[/red]: {exc}")
        raise typer.Exit(2) from None
    engine = rt.engine()
    wired = wire(rt.settings, engine, rt.clock, stream=sys.stdout)
    data = gather_digest(
        wired.bot.commands.ledger, wired.bot.commands.governance, rt.clock(), day, shadow=wired.bot.commands.shadow
    )
    if chart is not None:
        chart.write_bytes(digest_chart(data))
    if dry_run:
        message = render_digest(data)
        if as_json:
            typer.echo(json.dumps(message.as_json(), indent=2, ensure_ascii=False))
        else:
            typer.echo(blocks_as_text(message.blocks, message.text))
        return
    channel = rt.settings.slack_governance_channel
    if wired.client is not None and not channel:
        err_console.print("[red]AISPEND_SLACK_GOVERNANCE_CHANNEL is not set[/red]: the channel id to post to.")
        raise typer.Exit(2)
    post_digest(engine, wired.bot.outbox, data, channel or "governance")
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.idempotency_key).startswith(f"digest:{data.key}:"))
        ).all()
    for row in rows:
        err_console.print(f"{row.idempotency_key}: {row.status}" + (f" ({row.last_error})" if row.last_error else ""))
    if any(r.status != "sent" for r in rows):
        raise typer.Exit(1)


def audit(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", min=1, help="How many entries, newest first."),
    user: str = typer.Option("", "--user", help="Only changes by this Slack user id."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
) -> None:
    """Every change made from Slack: who, what, before, after."""
    rt = runtime(ctx)
    with Session(rt.engine()) as session:
        entries = audit_log.entries(session, limit=limit, user_id=user or None)
    if as_json:
        for e in entries:
            typer.echo(
                json.dumps(
                    {
                        "at": e.at.isoformat(),
                        "user": e.user_id,
                        "action": e.action,
                        "target": e.target,
                        "before": e.before,
                        "after": e.after,
                    }
                )
            )
        return
    table = Table("at (UTC)", "user", "action", "target", "before", "after")
    for e in entries:
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.user_id,
            e.action,
            e.target,
            json.dumps(e.before) if e.before is not None else "",
            json.dumps(e.after),
        )
    console.print(table if entries else "No changes have been made from Slack.")


def outbox(
    ctx: typer.Context,
    deliver: bool = typer.Option(False, "--deliver", help="Send every pending message now."),
) -> None:
    """Messages not yet in Slack (pending, in doubt, failed); `--deliver` sends the pending ones."""
    rt = runtime(ctx)
    engine = rt.engine()
    if deliver:
        sent = wire(rt.settings, engine, rt.clock).bot.outbox.deliver_pending()
        console.print(f"{sent} sent")
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.status).in_([PENDING, SENDING, FAILED]))
            .order_by(col(OutboxMessage.id))
        ).all()
    table = Table("id", "key", "kind", "status", "attempts", "last error")
    for r in rows:
        table.add_row(str(r.id), r.idempotency_key, r.kind, r.status, str(r.attempts), r.last_error or "")
    console.print(table if rows else "The outbox is empty: everything was delivered.")
