"""The bot inside `aispend run`: the weekly digest as a job (terminal transport without a Slack token),
job posts through the bot's outbox (idempotent by dedupe key), and the logical channel map."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from aispend.app import deliver_notifications, digest_job, wire
from aispend.bot.models import OutboxMessage
from aispend.bot.serve import OutboxNotifier, slack_channels
from aispend.core.settings import Settings
from aispend.jobs.registry import JobContext
from tests.governance_builders import pending_notification
from tests.notifier import Posts

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin


def _context(engine: Engine, settings: Settings) -> JobContext:
    return JobContext(
        name="digest",
        settings=settings,
        engine=engine,
        now=NOW,
        slot=NOW,
        notifier=Posts(),
        clock=lambda: NOW,
    )


def _outbox_rows(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(OutboxMessage)).one()[0])


def test_the_digest_job_posts_once_per_week_on_the_terminal(engine: Engine) -> None:
    settings = Settings(slack_bot_token=None)  # type: ignore[call-arg]
    stream = io.StringIO()
    wired = wire(settings, engine, lambda: NOW, stream=stream)
    result = digest_job(_context(engine, settings), wired=wired)
    assert result.summary.startswith("digest ") and result.summary.endswith("posted to digest")
    first = stream.getvalue()
    assert first.strip() != ""
    digest_job(_context(engine, settings), wired=wired)  # a re-run in the same ISO week
    assert stream.getvalue() == first  # posted nothing more


def test_job_posts_go_through_the_outbox_once_per_dedupe_key(engine: Engine) -> None:
    settings = Settings(slack_bot_token=None)  # type: ignore[call-arg]
    stream = io.StringIO()
    wired = wire(settings, engine, lambda: NOW, stream=stream)
    notifier = OutboxNotifier(engine, wired.bot.outbox, {"admin": "C0ADMIN"})
    notifier.post("admin", "Job `digest` failed 3 times in a row.", dedupe_key="job-failures:digest:x")
    notifier.post("admin", "Job `digest` failed 3 times in a row.", dedupe_key="job-failures:digest:x")
    assert _outbox_rows(engine) == 1
    assert stream.getvalue().count("failed 3 times in a row") == 1
    with pytest.raises(ValueError, match="no Slack channel is set for 'finance'"):
        OutboxNotifier(engine, wired.bot.outbox, {"finance": ""}).post("finance", "x")


def test_logical_channels_map_to_the_slack_settings() -> None:
    settings = Settings(  # type: ignore[call-arg]
        slack_finance_channel="C0FIN", slack_leadership_channel="C0LEAD", slack_governance_channel="C0GOV"
    )
    channels = slack_channels(settings)
    assert channels == {
        "admin": "C0LEAD",
        "finance": "C0FIN",
        "alerts": "C0FIN",
        "leadership": "C0LEAD",
        "digest": "C0GOV",
    }
    assert slack_channels(Settings(jobs_admin_channel="C0OPS"))["admin"] == "C0OPS"  # type: ignore[call-arg]
    # On the terminal (no Slack token) an unset channel is shown by its logical name, never refused.
    terminal = slack_channels(Settings(slack_finance_channel="C0FIN"), terminal=True)  # type: ignore[call-arg]
    assert terminal["finance"] == "C0FIN" and terminal["admin"] == "#admin" and terminal["digest"] == "#digest"


def test_the_alert_delivery_sets_aside_what_it_cannot_read_and_delivers_the_rest(engine: Engine) -> None:
    settings = Settings(slack_bot_token=None)  # type: ignore[call-arg]
    stream = io.StringIO()
    day_before = NOW - timedelta(days=1)
    broken = pending_notification(engine, "someday", day_before)
    pending_notification(engine, "2026-11/draft", day_before, rule="escalation_gate")  # an old gate alert
    result = deliver_notifications(engine, settings, NOW, stream=stream)
    assert (result.notifications, [s.id for s in result.set_aside]) == (1, [broken])
    assert "names no month" in result.set_aside[0].reason
    assert "Yellow alert: workflow wf, escalation gate skipped" in stream.getvalue()
    assert deliver_notifications(engine, settings, NOW, stream=stream).set_aside == ()
