"""The Slack app inside `aispend run`: what it serves (Socket Mode or HTTP) and how jobs' plain posts
go through the bot's outbox (OutboxNotifier, which the jobs' Notifier protocol describes)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from aispend.bot.app import Wired, build_app
from aispend.bot.blocks import Message
from aispend.bot.outbox import Outbox
from aispend.bot.replay import ReplayGuard
from aispend.bot.server import make_http_server
from aispend.core.ledger.db import session_scope
from aispend.core.settings import Settings

log = logging.getLogger("aispend.run")


class OutboxNotifier:
    """Jobs' posts go through the bot's outbox: idempotent by dedupe key, retried until delivered."""

    def __init__(self, engine: Engine, outbox: Outbox, channels: Mapping[str, str]) -> None:
        self.engine = engine
        self.outbox = outbox
        self.channels = channels

    def post(self, channel: str, text: str, *, dedupe_key: str | None = None) -> None:
        target = self.channels.get(channel, channel)
        if not target:
            raise ValueError(f"no Slack channel is set for {channel!r} messages (see docs/deployment.md)")
        key = dedupe_key or f"ops:{channel}:{hashlib.sha256(text.encode()).hexdigest()[:24]}"
        with session_scope(self.engine) as session:
            self.outbox.post(session, key, target, Message(text=text))
        self.outbox.deliver_pending()


def slack_channels(settings: Settings, *, terminal: bool = False) -> dict[str, str]:
    """Logical channel -> Slack channel id. Unset: "" (posting there fails with a clear error), or on the
    terminal (no SLACK_BOT_TOKEN) the logical name itself, as the printed messages show it."""
    leadership = settings.slack_leadership_channel
    channels = {
        "admin": settings.jobs_admin_channel or leadership,
        "finance": settings.slack_finance_channel,
        "alerts": settings.slack_finance_channel,
        "leadership": leadership,
        "digest": settings.slack_governance_channel,
    }
    if terminal:
        return {name: channel or f"#{name}" for name, channel in channels.items()}
    return channels


@dataclass
class SlackServe:
    """Serve the Bolt app until `stop` is set: Socket Mode with SLACK_APP_TOKEN, else HTTP mode.

    When Slack cannot be served (Slack refuses the app token, the port is taken) the reason is kept in
    `failure`, naming the setting, and `stop` is set: the process ends instead of running on with no app."""

    wired: Wired
    settings: Settings
    force_http: bool = False  # `aispend run --http`: HTTP mode even when SLACK_APP_TOKEN is set
    failure: str | None = None

    def __call__(self, stop: threading.Event) -> None:
        try:
            self._serve(stop)
        except Exception as exc:  # the reason is reported and the process stops
            self.failure = serve_failure(self.settings, self.socket_mode, exc)
            log.error("Slack cannot be served: %s", self.failure)
            stop.set()

    @property
    def socket_mode(self) -> bool:
        return self.settings.slack_app_token is not None and not self.force_http

    def _serve(self, stop: threading.Event) -> None:
        settings = self.settings
        assert self.wired.client is not None
        if self.socket_mode:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            assert settings.slack_app_token is not None
            app = build_app(self.wired.bot, self.wired.client, signing_secret=None)
            handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
            handler.connect()
            stop.wait()
            handler.close()
            return
        if settings.slack_signing_secret is None:  # startup_problems says so before we get here
            raise ValueError("SLACK_SIGNING_SECRET is not set")
        secret = settings.slack_signing_secret.get_secret_value()
        server = make_http_server(
            build_app(self.wired.bot, self.wired.client, signing_secret=secret),
            settings.http_host,
            settings.http_port,
            signing_secret=secret,
            replays=ReplayGuard(self.wired.bot.commands.engine),
            max_body_bytes=settings.http_max_body_bytes,
        )
        log.info(
            "Slack HTTP mode on http://%s:%d/slack/events",
            settings.http_host,
            server.server_port,
            extra={"slack_port": server.server_port},
        )
        thread = threading.Thread(target=server.serve_forever, name="slack-http", daemon=True)
        thread.start()
        stop.wait()
        server.shutdown()


def serve_failure(settings: Settings, socket_mode: bool, exc: Exception) -> str:
    """One line naming the setting and the cause (never a token)."""
    from slack_sdk.errors import SlackApiError

    if isinstance(exc, SlackApiError) and exc.response is not None:
        error = exc.response.get("error") or "no reason given"
        if str(exc.response.api_url).endswith("apps.connections.open"):
            return f"SLACK_APP_TOKEN was refused by Slack ({error}): set a valid app-level token (xapp-...)"
        return f"SLACK_BOT_TOKEN was refused by Slack ({error}): set a valid bot token (xoxb-...)"
    cause = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if socket_mode:
        return f"Slack Socket Mode could not connect with SLACK_APP_TOKEN ({cause})"
    return f"AISPEND_HTTP_HOST:AISPEND_HTTP_PORT ({settings.http_host}:{settings.http_port}): cannot serve ({cause})"
