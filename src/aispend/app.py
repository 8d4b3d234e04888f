"""The composition root: builds the engine's users from settings (the bot, the job registry, the
notifier, the Slack edge of `aispend run`) and joins bot and jobs, which never import each other.

It is the one place that decides Slack vs terminal and reads tokens. Connectors pull, jobs compute,
the bot posts and answers; what needs two of them (an evaluation delivered to Slack, the weekly
digest as a job, `/aispend sync`) is put together here.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TextIO

from slack_sdk import WebClient
from sqlalchemy import Engine

from aispend.bot.alerts import AlertService, deliver_with
from aispend.bot.app import Bot, Wired
from aispend.bot.data import GovernanceSource, LedgerData, ShadowSource
from aispend.bot.digest import gather_digest, post_digest
from aispend.bot.handlers import CommandContext
from aispend.bot.outbox import Outbox, Transport
from aispend.bot.permissions import Permissions
from aispend.bot.serve import OutboxNotifier, SlackServe, slack_channels
from aispend.bot.transport import SlackTransport, Sleep, TerminalTransport, make_client
from aispend.connectors.otlp.receiver import IngestReceiver, LandedBatch, build_receiver
from aispend.connectors.registry import build_connectors
from aispend.core.estimate import Estimator
from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.evaluate import Evaluated, evaluate
from aispend.core.governance.store import DeliveryResult, SetAside
from aispend.core.pricing import price_book
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, system_clock
from aispend.jobs.catalog import DIGEST, EVALUATE, MONTHLY_REVIEW, QUARTERLY_REVIEW, RETENTION, ROLLUPS
from aispend.jobs.governance_jobs import evaluate_job, open_alerts_by_level, outbox_depth, quarterly_review_job
from aispend.jobs.metrics import MetricFeeds
from aispend.jobs.monthly import monthly_review_job
from aispend.jobs.notify import Notifier
from aispend.jobs.registry import JobContext, JobRegistry, JobResult
from aispend.jobs.retention import retention_job
from aispend.jobs.rollups import rollup_maintenance_job
from aispend.jobs.service import Serve
from aispend.jobs.sync import sync_engine_from_settings
from aispend.jobs.sync_job import sync_source_job

DIGEST_TERMINAL_CHANNEL = "digest"


def sync_all_sources(engine: Engine, settings: Settings, clock: Clock, alerts: AlertService | None = None) -> str:
    """`/aispend sync`: the same sync as `aispend sync` (evaluation and alert delivery included),
    summarised one line per source."""
    reports = sync_engine_from_settings(engine, settings, clock).sync(build_connectors(settings, clock=clock))
    set_aside: tuple[SetAside, ...] = ()
    if alerts is not None:
        delivered = evaluate_and_deliver(engine, settings, clock(), alerts=alerts).delivered
        set_aside = delivered.set_aside if delivered is not None else ()
    lines = []
    for r in reports:
        line = f"{r.source}: {r.status}"
        if r.status == "ok" and r.synced_until:
            line += f", data to {r.synced_until.isoformat()}"
        if r.error:
            line += f" ({r.error[:200]})"
        lines.append(line)
    # The alerts that went out are in Slack already; one that could not go is said here, once.
    lines += [f"governance: {failed.line[:300]}" for failed in set_aside]
    return "\n".join(lines) or "No source is configured."


def evaluate_and_deliver(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    config: GovernanceConfig | None = None,
    alerts: AlertService | None = None,
    stream: TextIO | None = None,
    deliver: bool = True,
) -> Evaluated:
    """The one "evaluate, then deliver" sequence (the evaluate job, `aispend evaluate`, `aispend sync`,
    `/aispend sync`, the demo): every rule as of `now`, then each pending notification as an alert
    message through the bot's outbox, exactly once. `alerts`: a bot's AlertService (else one is wired:
    Slack with SLACK_BOT_TOKEN, otherwise the messages as text on `stream`). `deliver=False` leaves
    the notifications pending for the next delivery."""
    result = evaluate(engine, now=now, config=config or GovernanceConfig.from_settings(settings))
    if not deliver:
        return Evaluated(result, None)
    if alerts is None:
        return Evaluated(result, deliver_notifications(engine, settings, now, stream=stream))
    return Evaluated(result, deliver_with(alerts, engine, now, settings.currency))


def wire(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    *,
    stream: TextIO | None = None,
    sleep: Sleep = time.sleep,
) -> Wired:
    client: WebClient | None = None
    transport: Transport
    if settings.slack_bot_token is not None and settings.slack_bot_token.get_secret_value():
        client = make_client(
            settings.slack_bot_token.get_secret_value(),
            settings.slack_api_url,
            max_retries=settings.slack_max_retries,
            sleep=sleep,
        )
        transport = SlackTransport(client, max_retries=settings.slack_max_retries, sleep=sleep)
    else:
        transport = TerminalTransport(stream or sys.stdout)
    outbox = Outbox(engine, transport, clock)
    permissions = Permissions(settings.slack_finance_admins, settings.slack_admins, client, clock)
    alerts = AlertService(
        engine,
        outbox,
        clock,
        finance_channel=settings.slack_finance_channel,
        leadership_channel=settings.slack_leadership_channel,
    )
    config = GovernanceConfig.from_settings(settings)
    commands = CommandContext(
        sync=lambda now: sync_all_sources(engine, settings, clock, alerts),
        shadow=ShadowSource(engine, settings),
        engine=engine,
        ledger=LedgerData(
            engine,
            settings.currency,
            stale_after=timedelta(hours=settings.sync_stale_hours),
            drift_pct=settings.reconciliation_drift_pct,
            policy=config.spend,
        ),
        governance=GovernanceSource(engine, config),
        permissions=permissions,
        estimator=Estimator(lambda: price_book(settings), config.spend.rates),
    )
    return Wired(bot=Bot(commands=commands, outbox=outbox, alerts=alerts, clock=clock), client=client)


def deliver_notifications(
    engine: Engine, settings: Settings, now: datetime, *, stream: TextIO | None = None
) -> DeliveryResult:
    """What `aispend evaluate`, `aispend sync` and the demo call after evaluating: Slack when
    SLACK_BOT_TOKEN is set, else the same messages as text on `stream` (stdout by default)."""
    wired = wire(settings, engine, lambda: now, stream=stream or sys.stdout)
    return deliver_with(wired.bot.alerts, engine, now, settings.currency)


# --- the jobs of `aispend run` -------------------------------------------------------------------


def default_registry(
    settings: Settings,
    clock: Clock = system_clock,
    *,
    evaluate: Callable[[JobContext], Evaluated],
) -> JobRegistry:
    """Which body runs for which job, but the digest (it needs the bot: build_registry).
    `evaluate`: the evaluation with its delivery, run after each sync and on its own timer."""
    registry = JobRegistry()
    registry.register(RETENTION, retention_job)
    registry.register(MONTHLY_REVIEW, monthly_review_job)  # shadow-AI audit now; thresholds join it (monthly.py)

    # One sync job per configured source, in the order and with the factories of connectors/registry.py.
    for source, connector in build_connectors(settings, clock=clock).items():
        if connector.is_configured():
            registry.register_sync_source(source, partial(sync_source_job, source=source, connector=connector))

    # Evaluation runs every AISPEND_JOBS_EVALUATE_CRON and right after every successful sync.
    registry.register(EVALUATE, partial(evaluate_job, evaluate=evaluate))
    registry.register(QUARTERLY_REVIEW, quarterly_review_job)
    registry.register(ROLLUPS, rollup_maintenance_job)
    return registry


def digest_job(context: JobContext, *, wired: Wired) -> JobResult:
    settings = context.settings
    channel = settings.slack_governance_channel
    if not channel:
        if wired.client is not None:
            raise ValueError("AISPEND_SLACK_GOVERNANCE_CHANNEL is not set: the weekly digest has nowhere to go")
        channel = DIGEST_TERMINAL_CHANNEL
    commands = wired.bot.commands
    data = gather_digest(commands.ledger, commands.governance, context.now, shadow=commands.shadow)
    post_digest(context.engine, wired.bot.outbox, data, channel)  # once per ISO week (outbox key)
    return JobResult(summary=f"digest {data.key} posted to {channel}")


@dataclass
class SlackEdge:
    serve: Serve | None  # None without SLACK_BOT_TOKEN
    notifier: Notifier
    wired: Wired


def slack_edge(settings: Settings, engine: Engine, clock: Clock = system_clock) -> SlackEdge:
    """The bot inside `aispend run`: on Slack with SLACK_BOT_TOKEN, else the terminal sink."""
    wired = wire(settings, engine, clock)
    # Jobs' plain posts take the bot's one delivery path too: its outbox, on Slack or the terminal.
    notifier = OutboxNotifier(engine, wired.bot.outbox, slack_channels(settings, terminal=wired.client is None))
    serve = SlackServe(wired, settings) if wired.client is not None else None
    return SlackEdge(serve=serve, notifier=notifier, wired=wired)


def build_registry(
    settings: Settings, edge: SlackEdge | Callable[[], SlackEdge], clock: Clock = system_clock
) -> JobRegistry:
    """Every job with its body. `edge` may be given lazily: listing the jobs never builds the Slack edge,
    only running the digest or an evaluation does."""
    get_edge = edge if callable(edge) else (lambda: edge)
    get_edge = functools.cache(get_edge)

    # Governance alerts go through the bot's AlertService (one message per alert, buttons), not plain posts.
    def evaluate(context: JobContext) -> Evaluated:
        alerts = get_edge().wired.bot.alerts
        return evaluate_and_deliver(context.engine, context.settings, context.now, alerts=alerts)

    def digest(context: JobContext) -> JobResult:
        return digest_job(context, wired=get_edge().wired)

    registry = default_registry(settings, clock, evaluate=evaluate)
    registry.register(DIGEST, digest)
    return registry


def metric_feeds(engine: Engine) -> MetricFeeds:
    """Open alerts by level and the undelivered governance notifications, for /metrics."""
    return MetricFeeds(
        open_alerts_by_level=partial(open_alerts_by_level, engine), outbox_depth=partial(outbox_depth, engine)
    )


def ingest_receiver(
    settings: Settings,
    engine: Engine,
    clock: Clock = system_clock,
    *,
    on_landed: Callable[[LandedBatch], object] | None = None,
) -> IngestReceiver | None:
    """The live ingest receiver of `aispend run` (None when AISPEND_INGEST_PORT is blank). `on_landed`
    is called after each committed batch that inserted calls: the hook for an evaluation soon after."""
    if settings.ingest_port is None:
        return None
    return build_receiver(settings, engine, clock=clock, on_landed=on_landed)
