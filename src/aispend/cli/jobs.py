"""`aispend run` (the long-running process) and `aispend jobs list|run`."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from aispend.app import SlackEdge, build_registry, ingest_receiver, metric_feeds, slack_edge
from aispend.bot.serve import SlackServe
from aispend.cli.runtime import Runtime, err_console, runtime
from aispend.connectors.otlp.receiver import IngestReceiver
from aispend.core.schedule import due_slots, next_slot
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, as_utc
from aispend.jobs.catalog import JobSpec, build_job_set
from aispend.jobs.logs import configure_logging
from aispend.jobs.metrics import MetricFeeds
from aispend.jobs.models import STATUS_OK, JobState
from aispend.jobs.notify import Notifier
from aispend.jobs.registry import JobRegistry
from aispend.jobs.runner import JobBusy, JobNotWired, Runner
from aispend.jobs.service import Serve, Service
from aispend.jobs.store import JobStore

app = typer.Typer(help="Scheduled jobs: list them, run one now.", no_args_is_help=True)
log = logging.getLogger("aispend.run")


def startup_problems(settings: Settings, *, http: bool = False) -> list[str]:
    """Settings that parse but cannot work together; each names the setting and the fix. Empty tokens
    count as unset (Settings). `http`: `aispend run --http`."""
    problems = []
    has_bot = settings.slack_bot_token is not None
    app_token, secret = settings.slack_app_token, settings.slack_signing_secret
    if has_bot and app_token is None and secret is None:
        problems.append(
            "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET "
            "(HTTP mode) is: set one of them, or unset SLACK_BOT_TOKEN to use the terminal sink"
        )
    elif has_bot and http and secret is None:
        problems.append(
            "SLACK_SIGNING_SECRET is not set: `aispend run --http` serves HTTP mode, which cannot verify "
            "Slack's requests without it; set it (Slack app settings, Basic Information) or drop --http"
        )
    if has_bot and app_token is not None and not http and not app_token.get_secret_value().startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN is not an app-level token (those start with xapp-): set the right token")
    if not has_bot and app_token is not None:
        problems.append("SLACK_APP_TOKEN is set without SLACK_BOT_TOKEN: set the bot token (xoxb-...) too")
    return problems


def _edge(settings: Settings, engine: Engine, clock: Clock, http: bool = False) -> SlackEdge:
    edge = slack_edge(settings, engine, clock)
    if edge.serve is None:
        log.info("no SLACK_BOT_TOKEN: messages go to the terminal sink (stdout)")
    else:
        mode = "Socket Mode" if settings.slack_app_token is not None and not http else "HTTP mode"
        log.info("Slack app in %s; jobs post through the bot's outbox", mode)
    return edge


def run_command(
    ctx: typer.Context,
    http: bool = typer.Option(False, "--http", help="Serve Slack in HTTP mode even when SLACK_APP_TOKEN is set."),
) -> None:
    """Run the scheduler (and the Slack app when configured) until SIGTERM/SIGINT.

    Slack: Socket Mode when SLACK_APP_TOKEN is set, HTTP mode (AISPEND_HTTP_HOST:AISPEND_HTTP_PORT,
    path /slack/events) otherwise or with --http. No SLACK_BOT_TOKEN: messages go to the terminal.
    """
    rt = runtime(ctx)
    settings = rt.settings
    configure_logging(settings.log_format, settings.log_level)
    problems = startup_problems(settings, http=http)
    for problem in problems:
        typer.echo(f"setting problem: {problem}", err=True)
    if problems:
        raise typer.Exit(2)
    engine = rt.engine()  # cannot be opened: one line from the root group (cli.errors)
    edge = _edge(settings, engine, rt.clock, http)
    if isinstance(edge.serve, SlackServe):
        edge.serve.force_http = http
    serve_schedule(
        settings,
        engine,
        build_registry(settings, edge, rt.clock),
        edge.notifier,
        edge.serve,
        metric_feeds(engine),
        housekeeping=edge.wired.bot.outbox.deliver_pending,
        ingest=ingest_receiver(settings, engine, rt.clock),
    )
    if isinstance(edge.serve, SlackServe) and edge.serve.failure:
        typer.echo(f"setting problem: {edge.serve.failure}", err=True)
        raise typer.Exit(2)


def serve_schedule(
    settings: Settings,
    engine: Engine,
    registry: JobRegistry,
    notifier: Notifier,
    serve: Serve | None = None,
    feeds: MetricFeeds | None = None,
    housekeeping: Callable[[], object] | None = None,
    ingest: IngestReceiver | None = None,
) -> None:
    """The body of `aispend run` once settings, database and outputs are settled."""
    if engine.dialect.name == "sqlite":
        log.info("SQLite ledger: run exactly one `aispend run` process (use PostgreSQL for replicas)")
    service = Service(
        settings=settings,
        engine=engine,
        registry=registry,
        notifier=notifier,
        serve=serve,
        feeds=feeds or MetricFeeds(),
        housekeeping=housekeeping,
        ingest=ingest,
    )
    if ingest is not None:
        # A committed receiver batch starts the debounced evaluation (jobs/trigger.py) on the leader.
        ingest.ingest.on_landed = lambda batch: service.landed(batch.source, token=batch.token, inserted=batch.inserted)

    unwired = [job.name for job in service.jobs if not job.wired]
    if unwired:
        log.info("jobs listed but not wired in this build (never run): %s", ", ".join(unwired))
    code = service.run()
    logging.shutdown()
    sys.stdout.flush()
    if code:
        # A job overran the shutdown grace: leave now; the claim and its slot are handed back to the
        # next leader. os._exit because the job's worker thread cannot be interrupted.
        os._exit(code)


def _runner(rt: Runtime, owner: str) -> Runner:
    engine = rt.engine()  # cannot be opened: one line from the root group (cli.errors)
    settings = rt.settings
    edge = _edge(settings, engine, rt.clock)
    jobs = build_job_set(settings, build_registry(settings, edge, rt.clock))
    return Runner(settings=settings, engine=engine, jobs=jobs, notifier=edge.notifier, owner=owner, clock=rt.clock)


@dataclass(frozen=True)
class JobRow:
    spec: JobSpec
    next_run: datetime | None
    overdue_slots: int
    state: JobState | None


def job_rows(jobs: list[JobSpec], states: dict[str, JobState], now: datetime) -> list[JobRow]:
    rows = []
    for spec in jobs:
        state = states.get(spec.name)
        after = as_utc(state.last_slot) if state and state.last_slot else now
        _latest, overdue = due_slots(spec.trigger, after, now)
        rows.append(JobRow(spec, next_slot(spec.trigger, after if overdue else now), overdue, state))
    return rows


@app.command("list")
def list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Stable JSON output.")) -> None:
    """Each job: its schedule, next run (company time zone), last result."""
    rt = runtime(ctx)
    settings = rt.settings
    engine = rt.engine()  # cannot be opened: one line from the root group (cli.errors)
    # Listing never builds the Slack edge: the registry only calls for it when a job runs.
    jobs = build_job_set(settings, build_registry(settings, lambda: slack_edge(settings, engine, rt.clock), rt.clock))
    rows = job_rows(jobs, JobStore(engine).states(), as_utc(rt.clock()))
    if as_json:
        typer.echo(json.dumps([_row_json(row) for row in rows], indent=2))
        return
    table = Table(title=f"aispend jobs (times in {settings.timezone})")
    for column in ("job", "schedule", "next run", "last result", "last finished", "detail"):
        table.add_column(column)
    for row in rows:
        state = row.state
        if not row.spec.wired:
            next_run, last, finished, detail = "-", "not wired", "", "no body registered in this build"
        else:
            next_run = _local(row.next_run, settings)
            if row.overdue_slots:
                next_run += f" (due now, {row.overdue_slots} slot(s) missed)"
            last = state.last_status or "never ran" if state else "never ran"
            if state and state.consecutive_failures > 1:
                last += f" ({state.consecutive_failures} in a row)"
            finished = _local(state.last_finished_at, settings) if state else ""
            detail = (
                (state.last_error if state and state.last_status != STATUS_OK else None)
                or (state.last_summary if state else None)
                or ""
            )
        table.add_row(row.spec.name, row.spec.schedule, next_run, last, finished, detail[:120])
    Console().print(table)


def _local(value: datetime | None, settings: Settings) -> str:
    return as_utc(value).astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _row_json(row: JobRow) -> dict[str, object]:
    state = row.state
    return {
        "job": row.spec.name,
        "schedule": row.spec.schedule,
        "wired": row.spec.wired,
        "next_run": row.next_run.isoformat() if row.next_run and row.spec.wired else None,
        "overdue_slots": row.overdue_slots,
        "last_status": state.last_status if state else None,
        "last_finished_at": as_utc(state.last_finished_at).isoformat() if state and state.last_finished_at else None,
        "last_summary": state.last_summary if state else None,
        "last_error": state.last_error if state else None,
        "consecutive_failures": state.consecutive_failures if state else 0,
    }


@app.command("run")
def run_one(
    ctx: typer.Context, name: str = typer.Argument(..., help="Job name, as `aispend jobs list` shows.")
) -> None:
    """Run one job now (recorded like a scheduled run; refused if it is running elsewhere)."""
    rt = runtime(ctx)
    configure_logging(rt.settings.log_format, rt.settings.log_level)
    runner = _runner(rt, owner=f"cli:{socket.gethostname()}:{os.getpid()}")
    try:
        outcome = runner.run_now(name)
    except KeyError as exc:
        err_console.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from None
    except JobNotWired as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except JobBusy as exc:
        err_console.print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(3) from None
    if outcome.status == STATUS_OK:
        typer.echo(f"{name}: ok in {outcome.duration_s:.2f}s" + (f" — {outcome.summary}" if outcome.summary else ""))
        return
    err_console.print(f"[red]{name}: {outcome.status}[/red] {outcome.error or ''}")
    raise typer.Exit(1)
