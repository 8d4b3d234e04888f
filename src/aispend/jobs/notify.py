"""Where jobs post: a notifier interface, so jobs never talk to Slack directly.

The composition root hands jobs the bot's OutboxNotifier (bot/serve.py): one delivery path, on Slack
or, without a Slack token, rendered on the terminal. Channels are logical names ("admin", "finance",
"digest"); the bot maps them to channel ids.
"""

from __future__ import annotations

from typing import Protocol

ADMIN_CHANNEL = "admin"
FINANCE_CHANNEL = "finance"


class Notifier(Protocol):
    def post(self, channel: str, text: str, *, dedupe_key: str | None = None) -> None: ...
