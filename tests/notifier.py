"""A notifier that keeps what jobs post, for tests of the jobs alone (the bot's OutboxNotifier is
tested in tests of the composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Posts:
    sent: list[tuple[str, str, str | None]] = field(default_factory=list)

    def post(self, channel: str, text: str, *, dedupe_key: str | None = None) -> None:
        self.sent.append((channel, text, dedupe_key))

    def to(self, channel: str) -> list[str]:
        return [text for posted, text, _key in self.sent if posted == channel]
