"""`aispend sync`, `aispend status` and `aispend connectors check`."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from aispend.cli.runtime import err_console, runtime
from aispend.connectors.base import Connector, ConnectorError, RetryableError
from aispend.connectors.registry import build_connectors
from aispend.core.ledger.ingest_log import LiveSource
from aispend.core.redact import redact
from aispend.core.rules.freshness import Freshness
from aispend.core.settings import Settings
from aispend.core.timeutil import parse_date
from aispend.jobs.status import describe_age, live_statuses, load_states, statuses
from aispend.jobs.sync import SourceReport, sync_engine_from_settings

connectors_app = typer.Typer(help="Inspect the bill and usage sources.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Adds `sync` and `status` to the root command."""
    app.command("sync")(sync_cmd)
    app.command("status")(status_cmd)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _connectors(ctx: typer.Context, names: list[str] | None) -> dict[str, Connector]:
    rt = runtime(ctx)
    return build_connectors(rt.settings, names or None, clock=rt.clock, sleep=rt.sleep)


def sync_cmd(
    ctx: typer.Context,
    sources: list[str] | None = typer.Argument(None, help="Sources to sync (default: every configured one)."),
    since: str | None = typer.Option(None, "--from", help="Re-pull from this day (YYYY-MM-DD) instead."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Pull bills and usage from each source into the ledger (idempotent; failures do not stop others)."""
    rt = runtime(ctx)
    connectors = _connectors(ctx, sources)
    start: date | None = None
    if since:
        try:
            start = parse_date(since)
        except ValueError as exc:
            err_console.print(f"[red]--from: {exc}[/red]")
            raise typer.Exit(2) from None
    engine = sync_engine_from_settings(rt.engine(), rt.settings, rt.clock, rt.sleep)
    reports = engine.sync(connectors, since=start)
    _evaluate_and_deliver(rt.engine(), rt.settings, rt.clock(), as_json=as_json)
    explicit_unconfigured = [r.source for r in reports if sources and r.status == "not configured"]
    if as_json:
        typer.echo(json.dumps([_report_json(r) for r in reports], indent=2))
    else:
        _print_reports(reports)
    for name in explicit_unconfigured:
        err_console.print(f"[red]{name}: not configured[/red] — set its settings (see .env.example)")
    if any(r.status == "failed" for r in reports) or explicit_unconfigured:
        raise typer.Exit(1)


def _evaluate_and_deliver(engine: Engine, settings: Settings, now: datetime, *, as_json: bool) -> None:
    """Governance runs at the end of every sync, so alerts are as fresh as the data; its notifications
    go to Slack. Without a Slack token they are printed, except under --json, where the output stays
    the sync report alone and they wait (pending) for the next delivery: `aispend evaluate`, the bot."""
    from aispend.app import evaluate_and_deliver

    has_token = settings.slack_bot_token is not None and bool(settings.slack_bot_token.get_secret_value())
    done = evaluate_and_deliver(engine, settings, now, stream=sys.stdout, deliver=has_token or not as_json)
    result, delivered = done.result, done.delivered
    if delivered is None:
        return
    if not as_json:
        aside = f", {len(delivered.set_aside)} set aside" if delivered.set_aside else ""
        err_console.print(
            f"governance: {len(result.new_notifications)} new notification(s), "
            f"{delivered.notifications} handed to Slack, {delivered.sent} message(s) sent{aside}",
            markup=False,
            soft_wrap=True,
        )
    for failed in delivered.set_aside:  # on stderr under --json too: reported once, never retried
        err_console.print(f"governance: {failed.line}", markup=False, soft_wrap=True)


def _report_json(report: SourceReport) -> dict[str, Any]:
    return {
        "source": report.source,
        "status": report.status,
        "window": (
            {"start": report.window.start.isoformat(), "end": report.window.end.isoformat()} if report.window else None
        ),
        "synced_until": report.synced_until.isoformat() if report.synced_until else None,
        "lines": vars(report.lines),
        "usage": vars(report.usage),
        "requests": report.requests,
        "attempts": report.attempts,
        "freshest_data_at": _iso(report.freshest_data_at),
        "error": report.error,
    }


def _print_reports(reports: list[SourceReport]) -> None:
    table = Table(title="aispend sync")
    for column in ("source", "status", "window", "lines +new ~changed -removed", "requests", "error"):
        table.add_column(column)
    for r in reports:
        window = f"{r.window.start} .. {r.window.end}" if r.window else "-"
        lines = f"+{r.lines.inserted} ~{r.lines.updated} -{r.lines.removed} ={r.lines.unchanged}"
        table.add_row(r.source, r.status, window, lines, str(r.requests), r.error or "")
    Console().print(table)


def _status_json(status: Freshness) -> dict[str, Any]:
    return {
        "source": status.source,
        "state": status.state,
        "configured": status.configured,
        "last_success_at": _iso(status.last_success_at),
        "last_error": status.last_error,
        "last_error_at": _iso(status.last_error_at),
        "freshest_data_at": _iso(status.freshest_data_at),
        "staleness_hours": round(status.staleness.total_seconds() / 3600, 2) if status.staleness else None,
        "data_age_hours": round(status.data_age.total_seconds() / 3600, 2) if status.data_age else None,
        "stale": status.stale,
        "requests_last_sync": status.requests_last_sync,
    }


def status_cmd(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")
) -> None:
    """Per source: last success, last error, freshest data point and staleness."""
    rt = runtime(ctx)
    connectors = _connectors(ctx, None)
    now = rt.clock()
    found = statuses(
        rt.engine(),
        [(name, c.is_configured()) for name, c in connectors.items()],
        now,
        timedelta(hours=rt.settings.sync_stale_hours),
    )
    live = live_statuses(rt.engine(), now)
    if as_json:
        typer.echo(json.dumps([_status_json(s) for s in found] + [_live_json(s) for s in live], indent=2))
        return
    table = Table(title="aispend status")
    for column in ("source", "state", "last success", "freshest data", "age", "last error"):
        table.add_column(column)
    for s in found:
        error = f"{s.last_error} ({_iso(s.last_error_at)})" if s.last_error else ""
        table.add_row(
            s.source,
            s.state,
            _iso(s.last_success_at) or "never",
            _iso(s.freshest_data_at) or "-",
            describe_age(s.staleness),
            error,
        )
    Console().print(table)
    if live:
        _print_live(live, now)


def _live_json(status: LiveSource) -> dict[str, Any]:
    return {
        "source": status.source,
        "live": True,
        "token_name": status.token_name,
        "last_batch_at": _iso(status.last_batch_at),
        "batches_last_hour": status.batches_last_hour,
        "accepted_last_hour": status.accepted_last_hour,
        "refused_last_hour": status.refused_last_hour,
    }


def _print_live(live: list[LiveSource], now: datetime) -> None:
    table = Table(title="live sources (last hour)")
    for column in ("source", "token", "last batch", "age", "batches", "accepted", "refused"):
        table.add_column(column)
    for s in live:
        table.add_row(
            s.source,
            s.token_name or "-",
            _iso(s.last_batch_at) or "",
            describe_age(now - s.last_batch_at),
            f"{s.batches_last_hour:,}",
            f"{s.accepted_last_hour:,}",
            f"{s.refused_last_hour:,}",
        )
    Console().print(table)


@connectors_app.command("check")
def check_cmd(
    ctx: typer.Context,
    sources: list[str] | None = typer.Argument(None, help="Sources to check (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Per source: configured or not, can authenticate, freshest data point, last error.

    Authentication is proven by one small read (yesterday and today); nothing is written.

    Exit status: 0 every configured source answered; 1 a source refused the credentials (or its
    settings are wrong); 3 a source could not be reached or was throttled, so nothing is known
    about its credentials (1 wins when both happen).
    """
    rt = runtime(ctx)
    connectors = _connectors(ctx, sources)
    states = load_states(rt.engine())
    today = rt.clock().date()
    results = []
    for name, connector in connectors.items():
        state = states.get(name, {})
        entry: dict[str, Any] = {
            "source": name,
            "configured": connector.is_configured(),
            "authenticated": None,
            "freshest_data_at": _iso(state.get("freshest_data_at")),
            "last_error": state.get("last_error"),  # redacted by the ledger read
            "check_error": None,
            "details": [],
        }
        if connector.is_configured():
            try:
                report = connector.check(today)
                entry["authenticated"] = True
                entry["details"] = list(report.details)
                if report.freshest_data_at and not entry["freshest_data_at"]:
                    entry["freshest_data_at"] = _iso(report.freshest_data_at)
            except RetryableError as exc:  # throttled or down: says nothing about the key
                entry["check_error"] = redact(f"could not tell (retryable): {exc}")
            except ConnectorError as exc:
                entry["authenticated"] = False
                entry["check_error"] = redact(str(exc))
        results.append(entry)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    else:
        table = Table(title="aispend connectors check")
        for column in ("source", "configured", "authenticates", "freshest data", "found", "last error"):
            table.add_column(column)
        for e in results:
            auth = {True: "yes", False: "NO", None: "-"}[e["authenticated"]]
            error = e["check_error"] or e["last_error"] or ""
            table.add_row(
                e["source"],
                "yes" if e["configured"] else "no",
                auth,
                e["freshest_data_at"] or "-",
                "\n".join(e["details"]),
                error,
            )
        Console().print(table)
    raise typer.Exit(check_exit_code(results))


EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3


def check_exit_code(results: list[dict[str, Any]]) -> int:
    """What `connectors check` exits with (see its --help): a refusal is a definite answer, so it wins."""
    if any(e["authenticated"] is False for e in results):
        return EXIT_REFUSED
    if any(e["configured"] and e["authenticated"] is None for e in results):
        return EXIT_UNREACHABLE
    return 0
