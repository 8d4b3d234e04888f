"""`aispend digest --dry-run | --post` and `aispend audit` through the real CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from aispend.bot import audit
from aispend.cli.main import app
from tests.conftest import REPO_ROOT
from tests.fakes.slack_api import FakeSlack
from tests.slack_seed import seed

NOW = datetime(2026, 11, 25, 10, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


def invoke(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_digest_dry_run_prints_and_sends_nothing(engine: Engine, database_url: str, fake: FakeSlack) -> None:
    seed(engine, date(2026, 10, 1), 56, NOW)
    env = {
        "AISPEND_DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-t",
        "AISPEND_SLACK_API_URL": fake.api_url,
    }
    code, out, _ = invoke(["digest", "--dry-run", "--week", "2026-11-18"], env)
    assert code == 0, out
    assert out.startswith("AI spend: top 5 workflows, week of 2026-11-16 to 2026-11-22\n")
    assert "1. Support triage $" in out and "owner @U0OWNER" in out
    assert fake.calls == []
    code, out, _ = invoke(["digest", "--dry-run", "--json", "--week", "2026-11-18"], env)
    assert json.loads(out)["blocks"][0]["type"] == "header"


def test_digest_post_posts_once(engine: Engine, database_url: str, fake: FakeSlack) -> None:
    seed(engine, date(2026, 10, 1), 56, NOW)
    env = {
        "AISPEND_DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-t",
        "AISPEND_SLACK_API_URL": fake.api_url,
        "AISPEND_SLACK_GOVERNANCE_CHANNEL": "C0GOV",
    }
    for _ in range(2):
        code, out, err = invoke(["digest", "--post", "--week", "2026-11-18"], env)
        assert code == 0, out + err
    assert [m for m in fake.methods() if m != "auth.test"] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert "digest:2026-W47:message: sent" in err


def test_digest_needs_exactly_one_mode(database_url: str) -> None:
    code, _, err = invoke(["digest"], {"AISPEND_DATABASE_URL": database_url})
    assert code == 2 and "choose one of --dry-run or --post" in err


def test_audit_lists_changes(engine: Engine, database_url: str) -> None:
    with Session(engine) as session:
        audit.record(
            session,
            at=NOW,
            user_id="U0FIN",
            action="thresholds.set",
            target="company",
            before=None,
            after={"red": "40000"},
        )
        session.commit()
    code, out, _ = invoke(["audit", "--json"], {"AISPEND_DATABASE_URL": database_url})
    assert code == 0
    assert json.loads(out) == {
        "at": "2026-11-25T10:00:00+00:00",
        "user": "U0FIN",
        "action": "thresholds.set",
        "target": "company",
        "before": None,
        "after": {"red": "40000"},
    }


def test_manifest_declares_what_the_bot_uses() -> None:
    manifest = yaml.safe_load((REPO_ROOT / "slack" / "manifest.yaml").read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/aispend" and command["should_escape"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "files:write", "channels:history", "usergroups:read"} <= scopes
    settings = manifest["settings"]
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
