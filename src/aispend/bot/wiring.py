"""Build the bot from settings: the one place that decides Slack vs terminal and reads tokens."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TextIO

from slack_sdk import WebClient
from sqlalchemy import Engine

from aispend.bot.adapters import LedgerData
from aispend.bot.alerts import AlertService
from aispend.bot.app import Bot
from aispend.bot.handlers import CommandContext
from aispend.bot.outbox import Outbox, Transport
from aispend.bot.permissions import Permissions
from aispend.bot.ports import Governance
from aispend.bot.shadow_source import ShadowSource
from aispend.bot.transport import SlackTransport, Sleep, TerminalTransport, make_client
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock


def sync_all_sources(engine: Engine, settings: Settings, clock: Clock) -> str:
    """`/aispend sync`: the same sync as `aispend sync`, summarised one line per source."""
    from aispend.connectors.registry import build_connectors
    from aispend.jobs.sync import sync_engine_from_settings

    reports = sync_engine_from_settings(engine, settings, clock).sync(build_connectors(settings, clock=clock))
    lines = []
    for r in reports:
        line = f"{r.source}: {r.status}"
        if r.status == "ok" and r.synced_until:
            line += f", data to {r.synced_until.isoformat()}"
        if r.error:
            line += f" ({r.error[:200]})"
        lines.append(line)
    return "\n".join(lines) or "No source is configured."


@dataclass
class Wired:
    bot: Bot
    client: WebClient | None  # None: no SLACK_BOT_TOKEN, messages go to the terminal


def wire(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    *,
    governance: Governance | None = None,
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
    commands = CommandContext(
        sync=lambda now: sync_all_sources(engine, settings, clock),
        shadow=ShadowSource(engine, settings),
        engine=engine,
        ledger=LedgerData(engine, settings.currency, stale_after=timedelta(hours=settings.sync_stale_hours)),
        governance=governance,
        permissions=permissions,
    )
    alerts = AlertService(
        engine,
        outbox,
        clock,
        finance_channel=settings.slack_finance_channel,
        leadership_channel=settings.slack_leadership_channel,
    )
    return Wired(bot=Bot(commands=commands, outbox=outbox, alerts=alerts, clock=clock), client=client)
