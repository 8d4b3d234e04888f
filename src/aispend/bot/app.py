"""The Bolt app: `/aispend`, the alert buttons, App Home. Ack first, work after, reply through the outbox.

What a listener lets through is said in one place, the app's error handler (`@app.error`): a domain
error (aispend.core.errors.AispendError) is its user message; anything else is a bug, logged with an
error id and its traceback, and the user reads "Something went wrong (error id …)". The reply is
ephemeral, straight to the request's response_url (not through the outbox: the database may be what
failed); an event with no response_url (App Home) is only logged.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from aispend.bot.alerts import AlertService
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
from aispend.core.errors import AispendError, new_error_id
from aispend.core.ledger.db import session_scope
from aispend.core.redact import redact
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

    @app.error
    def on_error(error: Exception, body: dict[str, Any], respond: Respond | None) -> None:
        reply_to_error(error, body, respond)

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
                with session_scope(bot.commands.engine) as session:
                    bot.commands.ledger.set_owner(session, alert.scope, owner, bot.clock())

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


def reply_to_error(error: Exception, body: dict[str, Any], respond: Respond | None) -> str:
    """Log what a listener let through and tell the user (ephemeral, when the request has a
    response_url); the text the user is shown."""
    where = _what(body)
    if isinstance(error, AispendError):
        log.info("%s refused: %s", where, error, extra={"error_code": error.code})
        text = error.user_message
    else:
        error_id = new_error_id()
        log.error("%s failed (error id %s)", where, error_id, exc_info=error, extra={"error_id": error_id})
        text = f"Something went wrong (error id {error_id}); it is in the bot's log."
    if respond is not None:
        try:
            respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception as exc:  # Slack unreachable or the URL unusable: the log has the error, nothing more to do
            log.warning("%s: could not tell the user about the error: %s", where, redact(str(exc)))
    return text


def _what(body: dict[str, Any]) -> str:
    """What the request was, for the log: the command and its first words, or the action or event."""
    if body.get("command"):
        return f"{body['command']} {str(body.get('text', ''))[:100]}".strip()
    actions = body.get("actions") or [{}]
    return str(actions[0].get("action_id") or (body.get("event") or {}).get("type") or body.get("type") or "request")


def _reply_to_command(bot: Bot, body: dict[str, Any]) -> None:
    user = body.get("user_id", "")
    reply = run_command(bot.commands, body.get("text", ""), user, bot.clock())  # what fails: reply_to_error
    key = f"respond:{body.get('trigger_id') or body.get('response_url')}"
    with session_scope(bot.commands.engine) as session:
        bot.outbox.respond(session, key, body["response_url"], reply.message, share=reply.share)
    bot.outbox.deliver_pending()


def _alert_key(body: dict[str, Any]) -> str:
    action = body["actions"][0]
    if action.get("value"):
        return str(action["value"])
    block_id = str(action.get("block_id", ""))
    return block_id.removeprefix("alert|")


def _alert_action(bot: Bot, body: dict[str, Any], do: Any) -> None:
    do(_alert_key(body), body["user"]["id"])  # an alert no longer tracked (UnknownAlert): reply_to_error


def _respond(bot: Bot, body: dict[str, Any], text: str) -> None:
    url = body.get("response_url")
    if not url:
        return
    key = f"respond:{body.get('trigger_id') or body['actions'][0].get('action_ts')}"
    with session_scope(bot.commands.engine) as session:
        bot.outbox.respond(session, key, url, render_text_reply(text))
    bot.outbox.deliver_pending()
