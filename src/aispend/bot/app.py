"""The Bolt app: `/aispend`, the alert buttons, App Home. Ack first, work after, reply through the outbox."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from sqlmodel import Session

from aispend.bot.alerts import AlertService, UnknownAlert
from aispend.bot.data import current_period
from aispend.bot.handlers import CommandContext, run_command
from aispend.bot.outbox import Outbox
from aispend.bot.render import (
    ACTION_ACK,
    ACTION_ASSIGN,
    ACTION_EXPLAIN,
    ACTION_SNOOZE,
    render_home,
    render_text_reply,
)
from aispend.bot.views import HomeData, coloured
from aispend.core.timeutil import Clock

log = logging.getLogger(__name__)
SLACK_EVENTS_PATH = "/slack/events"


@dataclass
class Bot:
    commands: CommandContext
    outbox: Outbox
    alerts: AlertService
    clock: Clock


@dataclass
class Wired:
    """A bot and its Slack client, as the composition root (aispend.app) builds them."""

    bot: Bot
    client: WebClient | None  # None: no SLACK_BOT_TOKEN, messages go to the terminal


def build_app(
    bot: Bot,
    client: WebClient,
    *,
    signing_secret: str | None,
    verify_token: bool = True,
    listener_executor: Executor | None = None,  # Bolt's default: a thread pool
) -> App:
    """The Bolt app. HTTP mode needs the signing secret: the gate (bot/server.py) and Bolt both verify
    every request's signature and age. Socket Mode (signing_secret None) has no HTTP requests to verify."""
    if signing_secret is not None and not signing_secret.strip():
        raise ValueError("SLACK_SIGNING_SECRET is empty: HTTP mode cannot verify Slack's requests")
    app = App(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=signing_secret is not None,
        token_verification_enabled=verify_token,
        process_before_response=False,  # ack() answers Slack at once; listeners keep running after it
        listener_executor=listener_executor,
    )

    @app.command("/aispend")
    def aispend_command(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        _reply_to_command(bot, body)

    @app.action(ACTION_ACK)
    def acknowledge(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        _alert_action(bot, body, lambda key, user: bot.alerts.acknowledge(key, user))

    @app.action(ACTION_SNOOZE)
    def snooze(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        _alert_action(bot, body, lambda key, user: bot.alerts.snooze(key, user))

    @app.action(ACTION_EXPLAIN)
    def explain(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        action_ts = str(body["actions"][0].get("action_ts", ""))
        _alert_action(bot, body, lambda key, user: bot.alerts.explain(key, f"{user}:{action_ts}"))

    @app.action(ACTION_ASSIGN)
    def assign(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        owner = str(body["actions"][0].get("selected_user") or "")

        def do(key: str, user: str) -> None:
            alert = bot.alerts.alert_of(key)
            permissions = bot.commands.permissions
            current = alert.owner
            if not (permissions.is_finance_admin(user) or (current and current == user)):
                _respond(
                    bot,
                    body,
                    "Only finance admins or the current owner can assign an owner. Nothing changed.",
                )
                return
            bot.alerts.assign(key, user, owner)
            if alert.scope_kind == "workflow":
                with Session(bot.commands.engine) as session:
                    bot.commands.ledger.set_owner(session, alert.scope, owner, bot.clock())
                    session.commit()

        _alert_action(bot, body, do)

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        now = bot.clock()
        ledger = bot.commands.ledger
        month, _, _ = current_period("month", now.date())
        governance = bot.commands.governance
        colours = governance.colours(now) if governance else []
        data = HomeData(
            month=month,
            colours=colours,
            top=coloured(ledger.top("month", now), colours),  # the digest's colour rule
            sources=ledger.sources(now),
        )
        client.views_publish(user_id=event["user"], view=render_home(data))

    return app


def _reply_to_command(bot: Bot, body: dict[str, Any]) -> None:
    user = body.get("user_id", "")
    try:
        reply = run_command(bot.commands, body.get("text", ""), user, bot.clock())
        message, share = reply.message, reply.share
    except Exception:
        log.exception("/aispend %s failed", body.get("text", "")[:100])
        message, share = (
            render_text_reply("Sorry, that failed on our side; the error is in the bot's log."),
            False,
        )
    key = f"respond:{body.get('trigger_id') or body.get('response_url')}"
    with Session(bot.commands.engine) as session:
        bot.outbox.respond(session, key, body["response_url"], message, share=share)
        session.commit()
    bot.outbox.deliver_pending()


def _alert_key(body: dict[str, Any]) -> str:
    action = body["actions"][0]
    if action.get("value"):
        return str(action["value"])
    block_id = str(action.get("block_id", ""))
    return block_id.removeprefix("alert|")


def _alert_action(bot: Bot, body: dict[str, Any], do: Any) -> None:
    try:
        do(_alert_key(body), body["user"]["id"])
    except UnknownAlert:
        _respond(bot, body, "This alert is no longer tracked by aispend.")


def _respond(bot: Bot, body: dict[str, Any], text: str) -> None:
    url = body.get("response_url")
    if not url:
        return
    key = f"respond:{body.get('trigger_id') or body['actions'][0].get('action_ts')}"
    with Session(bot.commands.engine) as session:
        bot.outbox.respond(session, key, url, render_text_reply(text))
        session.commit()
    bot.outbox.deliver_pending()
