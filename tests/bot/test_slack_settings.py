"""The Slack bot's settings: names the issue spells out, defaults, validation, and .env.example."""

from __future__ import annotations

import pytest

from aispend.core.settings import Settings
from tests.conftest import REPO_ROOT

SLACK_ENV_NAMES = [
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "AISPEND_HTTP_HOST",
    "AISPEND_HTTP_PORT",
    "AISPEND_SLACK_API_URL",
    "AISPEND_SLACK_GOVERNANCE_CHANNEL",
    "AISPEND_SLACK_FINANCE_CHANNEL",
    "AISPEND_SLACK_LEADERSHIP_CHANNEL",
    "AISPEND_SLACK_FINANCE_ADMINS",
    "AISPEND_SLACK_ADMINS",
    "AISPEND_SLACK_MAX_RETRIES",
]


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in SLACK_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch)
    assert (s.http_host, s.http_port) == ("127.0.0.1", 3000)
    assert s.slack_bot_token is None and s.slack_finance_admins == []


def test_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(
        monkeypatch,
        SLACK_BOT_TOKEN="xoxb-1",
        AISPEND_HTTP_PORT="8080",
        AISPEND_SLACK_FINANCE_ADMINS="U1, S2 ,",
    )
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == "xoxb-1"
    assert "xoxb-1" not in repr(s)  # secrets never printed
    assert s.http_port == 8080 and s.slack_finance_admins == ["U1", "S2"]


def test_env_example_lists_every_slack_setting() -> None:
    example = (REPO_ROOT / ".env.example").read_text()
    names = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    assert set(SLACK_ENV_NAMES) <= names
