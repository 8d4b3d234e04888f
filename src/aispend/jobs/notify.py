"""Where jobs post: a notifier interface, so jobs never talk to Slack directly.

The Slack helper's delivery implements `Notifier`; without a Slack token the terminal sink prints.
Channels are logical names ("admin", "finance", "digest"); the Slack side maps them to channel ids.
"""

from __future__ import annotations

import sys
import threading
from typing import Protocol, TextIO

ADMIN_CHANNEL = "admin"
FINANCE_CHANNEL = "finance"


class Notifier(Protocol):
    def post(self, channel: str, text: str, *, dedupe_key: str | None = None) -> None: ...


class TerminalNotifier:
    """The terminal sink: each message on its own block of lines on stdout (or the given stream)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def post(self, channel: str, text: str, *, dedupe_key: str | None = None) -> None:
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(f"[aispend -> #{channel}] {text}\n")
            stream.flush()
