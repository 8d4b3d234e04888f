"""Secrets are never repeated: an upstream that echoes the key it refused does not put it in any output.

The real openai and anthropic clients talk to local fakes that echo the refused credential in their 401
message, in the forms a gateway might use; every command that shows error texts, the database, the log
and the digest posted to (a fake) Slack are then searched for the key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session
from typer.testing import CliRunner

from aispend.cli.errors import EXIT_INTERNAL
from aispend.cli.main import app
from aispend.core.ledger.models import SyncState
from aispend.core.redact import REDACTED, RedactingFilter, redact
from tests.fakes.anthropic_admin import FakeAnthropicAdmin
from tests.fakes.openai_admin import FakeOpenAIAdmin
from tests.fakes.server import Request, Response
from tests.fakes.slack_api import FakeSlack

# Characters that URL-encode, JSON-escape and base64 differently from the key itself.
OPENAI_KEY = "sk-admin-Zq7/Kp+Wm=Rt4xYb9NcLd2Hs8VfJg1Ue"
ANTHROPIC_KEY = "sk-ant-admin01-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz"
SLACK_TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
DB_PASSWORD = "pg-Pass-9f8e7d6c5b4a"


def echo(received: str) -> str:
    """What a careless gateway says: the key in full, URL-encoded, JSON inside a string, and cut short."""
    return (
        f"Incorrect API key provided: Bearer {received}. (sent as key={quote(received, safe='')}, "
        f"raw {json.dumps({'k': received})}, starts {received[:20]}…)"
    )


class EchoingOpenAI(FakeOpenAIAdmin):
    def route(self, request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if given != self.admin_key:
            return Response(401, {"error": {"message": echo(given), "type": "invalid_request_error", "code": None}})
        return super().route(request)


class EchoingAnthropic(FakeAnthropicAdmin):
    def route(self, request: Request) -> Response:
        given = request.headers.get("x-api-key", "")
        if given != self.admin_key:
            return Response(401, {"type": "error", "error": {"type": "authentication_error", "message": echo(given)}})
        return super().route(request)


def leaks(haystack: str) -> list[str]:
    """Each secret (and the forms in which it was echoed) still present in `haystack`."""
    found = []
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, SLACK_TOKEN, DB_PASSWORD):
        for form in (secret, quote(secret, safe=""), json.dumps(secret)[1:-1], secret[:20]):
            if form in haystack:
                found.append(form)
    return found


@pytest.fixture
def env(database_url: str) -> Iterator[tuple[dict[str, str], FakeSlack]]:
    openai_fake, anthropic_fake = EchoingOpenAI(), EchoingAnthropic()
    slack = FakeSlack().start()
    with openai_fake.running() as openai_url, anthropic_fake.running() as anthropic_url:
        yield (
            {
                "AISPEND_DATABASE_URL": database_url,
                "AISPEND_OPENAI_ADMIN_KEY": OPENAI_KEY,  # not the fakes' keys: both are refused
                "AISPEND_OPENAI_BASE_URL": openai_url,
                "AISPEND_ANTHROPIC_ADMIN_KEY": ANTHROPIC_KEY,
                "AISPEND_ANTHROPIC_BASE_URL": anthropic_url + "/v1",
                "AISPEND_SYNC_BACKFILL_DAYS": "3",
                "AISPEND_SYNC_MAX_ATTEMPTS": "1",
                "AISPEND_SYNC_STALE_HOURS": "1",
                "SLACK_BOT_TOKEN": SLACK_TOKEN,
                "AISPEND_SLACK_API_URL": slack.api_url,
                "AISPEND_SLACK_GOVERNANCE_CHANNEL": "C0GOV",
                "AISPEND_SLACK_FINANCE_CHANNEL": "C0FIN",
            },
            slack,
        )
    slack.stop()


def _db_text(engine: Engine) -> str:
    with engine.connect() as conn:
        rows = []
        for table in ("sync_state", "slack_outbox", "gov_notification", "gov_alert_state", "job_run"):
            rows += list(conn.execute(text(f"SELECT * FROM {table}")))
    return "\n".join(repr(tuple(r)) for r in rows)


def test_a_key_echoed_by_the_upstream_is_in_no_output_store_log_or_slack_post(
    engine: Engine, env: tuple[dict[str, str], FakeSlack]
) -> None:
    variables, slack = env
    runner = CliRunner()
    outputs: dict[str, str] = {}
    for args in (
        ["sync", "--json"],
        ["status", "--json"],
        ["status"],
        ["connectors", "check", "--json"],
        ["evaluate", "--json"],
        ["digest", "--dry-run", "--json"],
        ["digest", "--post"],
        ["outbox"],
    ):
        result = runner.invoke(app, args, env={**variables, "COLUMNS": "400"})
        outputs[" ".join(args)] = result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert result.exit_code != EXIT_INTERNAL, result.output  # a bug, said as one line with an error id

    sync = {r["source"]: r for r in json.loads(outputs["sync --json"])}
    assert sync["openai"]["status"] == sync["anthropic"]["status"] == "failed"
    assert REDACTED in sync["openai"]["error"] and "HTTP 401" in sync["openai"]["error"]
    assert "Incorrect API key provided" in sync["openai"]["error"]  # the message stays useful
    assert REDACTED in outputs["digest --dry-run --json"]  # the digest does show the source's error
    assert slack.of("chat.postMessage"), "the digest was posted"
    for name, output in outputs.items():
        assert leaks(output) == [], name
    assert leaks(_db_text(engine)) == []
    assert leaks("\n".join(c.raw.decode(errors="replace") for c in slack.calls)) == []


def test_stored_errors_from_before_the_fix_are_redacted_when_shown(
    engine: Engine, env: tuple[dict[str, str], FakeSlack]
) -> None:
    variables, _slack = env
    with Session(engine) as session:
        session.add(
            SyncState(
                source="openai",
                last_error=f"openai: HTTP 401: {echo(OPENAI_KEY)}",
                last_error_at=datetime.now(UTC) - timedelta(hours=1),
            )
        )
        session.commit()
    result = CliRunner().invoke(app, ["status", "--json"], env=variables)
    status = {s["source"]: s for s in json.loads(result.output)}
    assert REDACTED in status["openai"]["last_error"] and leaks(result.output) == []


def test_the_log_filter_redacts_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    from aispend.core.settings import load_settings

    load_settings(openai_admin_key=OPENAI_KEY, database_url=f"postgresql+psycopg://aispend:{DB_PASSWORD}@db/x")
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "upstream said %s", (echo(OPENAI_KEY),), None)
    try:
        raise RuntimeError(f"connect to postgresql://aispend:{DB_PASSWORD}@db/x failed")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert leaks(record.getMessage()) == [] and leaks(record.exc_text or "") == []
    assert "postgresql://aispend:***@db/x" in (record.exc_text or "")


@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ("Bearer authentication is required", "Bearer authentication is required"),  # a word, not a token
        ("key sk-admin-****Jg1Ue was refused", "key sk-admin-****Jg1Ue was refused"),  # a masked key is fine
        ("ask the owner at https://platform.openai.com/", "ask the owner at https://platform.openai.com/"),
        ("Authorization: Bearer abc123def456ghi", f"Authorization: Bearer {REDACTED}"),  # even unconfigured
    ],
)
def test_redaction_keeps_ordinary_text(said: str, kept: str) -> None:
    assert redact(said, [OPENAI_KEY]) == kept


def test_every_secret_setting_is_redacted() -> None:
    """Each SecretStr setting, whatever it is, is one the redactor knows (a new one cannot be forgotten)."""
    from pydantic import SecretStr

    from aispend.core.settings import Settings, load_settings

    secret_fields = [n for n, f in Settings.model_fields.items() if f.annotation in (SecretStr, SecretStr | None)]
    assert len(secret_fields) >= 5
    values: dict[str, Any] = {n: f"value-of-{n}-0123456789" for n in secret_fields}
    load_settings(**values)
    for name, value in values.items():
        assert value not in redact(f"echo {value} / {quote(value)}"), name


def test_an_echo_in_another_case_is_redacted_too() -> None:
    assert OPENAI_KEY.upper() not in redact(f"key {OPENAI_KEY.upper()} refused", [OPENAI_KEY])
    assert OPENAI_KEY[:16].lower() not in redact(f"key {OPENAI_KEY[:16].lower()}… refused", [OPENAI_KEY])
