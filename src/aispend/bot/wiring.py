"""Build the bot from settings: the one place that decides Slack vs terminal and reads tokens."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TextIO

from slack_sdk import WebClient
from sqlalchemy import Engine

from aispend.bot.adapters import LedgerData
from aispend.bot.alerts import AlertService
from aispend.bot.app import Bot
from aispend.bot.governance_alerts import DeliveryResult, GovernanceAlertStates, deliver_with
from aispend.bot.governance_source import GovernanceSource
from aispend.bot.handlers import CommandContext
from aispend.bot.outbox import Outbox, Transport
from aispend.bot.permissions import Permissions
from aispend.bot.ports import Governance
from aispend.bot.shadow_source import ShadowSource
from aispend.bot.transport import SlackTransport, Sleep, TerminalTransport, make_client
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock
from aispend.governance.config import GovernanceConfig


def sync_all_sources(engine: Engine, settings: Settings, clock: Clock, alerts: AlertService | None = None) -> str:
    """`/aispend sync`: the same sync as `aispend sync` (evaluation and alert delivery included),
    summarised one line per source."""
    from aispend.connectors.registry import build_connectors
    from aispend.jobs.sync import sync_engine_from_settings

    reports = sync_engine_from_settings(engine, settings, clock).sync(build_connectors(settings, clock=clock))
    set_aside = evaluate_and_deliver(engine, settings, clock(), alerts).set_aside if alerts is not None else ()
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


def evaluate_and_deliver(engine: Engine, settings: Settings, now: datetime, alerts: AlertService) -> DeliveryResult:
    """Governance evaluation for `now`, then its new notifications into Slack (or the terminal)."""
    from aispend.governance.evaluate import evaluate_with_settings

    evaluate_with_settings(engine, settings, now)
    return deliver_with(alerts, engine, now, settings.currency)


@dataclass
class Wired:
    bot: Bot
    client: WebClient | None  # None: no SLACK_BOT_TOKEN, messages go to the terminal


def wire(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    *,
    governance: Governance | None = None,  # default: the governance module (bot/governance_source.py)
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
        states=GovernanceAlertStates(),
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
        governance=governance or GovernanceSource(engine, config),
        permissions=permissions,
    )
    return Wired(bot=Bot(commands=commands, outbox=outbox, alerts=alerts, clock=clock), client=client)
