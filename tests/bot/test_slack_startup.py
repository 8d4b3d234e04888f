"""`aispend run` never serves Slack without verification: an empty SLACK_SIGNING_SECRET (as .env.example
ships it) is unset, HTTP mode refuses to start without one, and Socket Mode refuses an empty, wrong or
revoked app token with one line naming the setting and exit code 2 instead of running on with no app."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest

from aispend.bot.app import build_app
from aispend.bot.replay import ReplayGuard
from aispend.bot.server import make_http_server
from aispend.core.settings import Settings
from tests.fakes.slack_api import FakeSlack
from tests.scenarios.test_jobs_process import AISPEND, Proc, _base_env, _status, wait_for


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AISPEND), "run", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=90)


def _env(tmp_path: Path, fake: FakeSlack | None = None, **slack: str) -> dict[str, str]:
    env = _base_env(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    env.update(SLACK_BOT_TOKEN="xoxb-test", AISPEND_HTTP_PORT="0", **slack)
    if fake is not None:
        env["AISPEND_SLACK_API_URL"] = fake.api_url
    return env


def test_empty_slack_settings_are_unset() -> None:
    settings = Settings(SLACK_SIGNING_SECRET="", SLACK_APP_TOKEN="  ", SLACK_BOT_TOKEN="")  # type: ignore[call-arg]
    assert (settings.slack_signing_secret, settings.slack_app_token, settings.slack_bot_token) == (None, None, None)


def test_there_is_no_http_server_without_a_secret(engine: object) -> None:
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET is empty"):
        build_app(None, None, signing_secret=" ")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET is empty"):
        make_http_server(None, "127.0.0.1", 0, signing_secret="", replays=ReplayGuard(engine))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("slack", "args", "message"),
    [
        (  # .env.example as shipped, with a bot token: HTTP mode without a secret
            {"SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": ""},
            [],
            "neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode) is",
        ),
        (  # --http with an app token: HTTP mode all the same, so the secret is needed
            {"SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": "xapp-1-test"},
            ["--http"],
            "SLACK_SIGNING_SECRET is not set: `aispend run --http` serves HTTP mode",
        ),
        (
            {"SLACK_APP_TOKEN": "xoxb-not-an-app-token"},
            [],
            "SLACK_APP_TOKEN is not an app-level token (those start with xapp-)",
        ),
    ],
)
def test_run_refuses_to_start_without_verification(
    tmp_path: Path, slack: dict[str, str], args: list[str], message: str
) -> None:
    result = _run(_env(tmp_path, **slack), tmp_path, *args)
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("setting problem: ") and message in line
    assert "Traceback" not in result.stderr and "xoxb-test" not in result.stderr + result.stdout


def test_a_revoked_app_token_stops_the_process_with_one_line(tmp_path: Path) -> None:
    fake = FakeSlack(fail_with={"apps.connections.open": "invalid_auth"}).start()
    try:
        result = _run(_env(tmp_path, fake, SLACK_APP_TOKEN="xapp-1-revoked"), tmp_path)
    finally:
        fake.stop()
    assert result.returncode == 2
    assert "setting problem: SLACK_APP_TOKEN was refused by Slack (invalid_auth)" in result.stderr
    assert "Traceback" not in result.stderr and "xapp-1-revoked" not in result.stderr + result.stdout
    assert fake.of("apps.connections.open")


def test_http_mode_with_a_secret_verifies_and_limits_bodies(tmp_path: Path) -> None:
    fake = FakeSlack().start()
    env = _env(tmp_path, fake, SLACK_SIGNING_SECRET="test-signing-secret", AISPEND_HTTP_MAX_BODY_BYTES="1000")
    env["AISPEND_JOBS_DISABLED"] = "retention,evaluate,digest"
    proc = Proc([str(AISPEND), "run", "--http"], {**env, "SLACK_APP_TOKEN": "xapp-1-unused"}, tmp_path, "http")
    try:
        port = int(
            wait_for(  # type: ignore[call-overload]
                lambda: next((int(r["slack_port"]) for r in proc.logs() if "slack_port" in r), None),  # type: ignore[call-overload]
                30,
                "the Slack HTTP listener",
            )
        )
        url = f"http://127.0.0.1:{port}/slack/events"
        unsigned = b"command=%2Faispend&text=thresholds+set+company+red%3D1&user_id=U0FIN&response_url=x"
        assert _status(urllib.request.Request(url, data=unsigned, method="POST")) == 401
        assert _status(urllib.request.Request(url, data=b"a" * 2000, method="POST")) == 413
        assert proc.stop() == 0
    finally:
        proc.kill()
        fake.stop()
