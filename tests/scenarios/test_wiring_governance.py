"""The bot wired to the governance module: commands on real thresholds, an alert's life from governance
notifications to Slack and back (ack / snooze), crash safety, the terminal sink and the CLI paths."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from aispend.app import deliver_notifications, evaluate_and_deliver, wire
from aispend.bot.alerts import AlertService, deliver_with
from aispend.bot.handlers import run_command
from aispend.bot.models import AuditEntry, OutboxMessage
from aispend.bot.outbox import Outbox
from aispend.bot.transport import SlackTransport
from aispend.core.governance import store
from aispend.core.governance.evaluate import Evaluated, evaluate_with_settings
from aispend.core.governance.models import Notification, ThresholdAudit
from aispend.core.governance.store import DeliveryResult
from aispend.core.rules.findings import Scope
from aispend.core.rules.thresholds import Threshold
from aispend.core.settings import Settings, load_settings
from tests.clihelp import run_cli
from tests.fakes.slack_api import FakeSlack
from tests.governance_builders import insert, rollup
from tests.slack_builders import slack_settings as bot_settings

NOW = datetime(2026, 11, 5, 18, 0, tzinfo=UTC)
KEY = "threshold|workflow:big|2026-11"


def seed(engine: Engine) -> None:
    """Nov 2-5: `big` and nine other workflows at $100 a day each (10% shares: nobody is flagged by share);
    the week before, `big` at $50 a day (for "what changed")."""
    rows = []
    for offset in range(4):
        this_week = date(2026, 11, 2) + timedelta(days=offset)
        last_week = this_week - timedelta(days=7)
        rows += [rollup(this_week, "100", "big"), rollup(last_week, "50", "big")]
        for n in range(9):
            rows += [rollup(this_week, "100", f"a{n}"), rollup(last_week, "100", f"a{n}")]
    insert(engine, *rows)
    with Session(engine) as session:
        store.set_workflow_owner(session, "big", owner="U0BIG", now=NOW)
        session.commit()


QUIET = {"AISPEND_CHANGE_FLAG_PCT": "500"}  # no week-over-week alerts: only the threshold speaks
QUIET_SETTINGS = {"change_flag_pct": "500"}


def set_levels(engine: Engine, yellow: str, red: str) -> None:
    with Session(engine) as session:
        rule = Threshold(Scope("workflow", "big"), "month", Decimal(yellow), Decimal(red), "USD")
        store.set_threshold(session, rule, actor="cfo", now=NOW)
        session.commit()


def text_of(reply: Any) -> str:
    return json.dumps(reply.message.blocks) + reply.message.text


# --- commands on the governance tables ----------------------------------------------------------------


def test_thresholds_set_from_slack_changes_the_governance_table_with_both_audits(engine: Engine) -> None:
    seed(engine)
    settings = load_settings(slack_finance_admins="U0FIN")
    commands = wire(settings, engine, lambda: NOW, stream=io.StringIO()).bot.commands

    refused = run_command(commands, "thresholds set workflow:big yellow=100 red=200", "U0OTHER", NOW)
    assert refused.message.text == "Only finance admins can change thresholds. Nothing was changed."
    done = run_command(commands, "thresholds set workflow:big yellow=$2,500.00 red=10000", "U0FIN", NOW)
    assert done.message.text == "Thresholds of `workflow:big` set: yellow=2500, red=10000, currency=USD."
    bad = run_command(commands, "thresholds set workflow:big yellow=20000", "U0FIN", NOW)
    assert bad.message.text.startswith("yellow level 20000 is above red level 10000. Nothing was changed.")
    kept = run_command(commands, "thresholds set workflow:big red=2800", "U0FIN", NOW)  # yellow is kept
    assert kept.message.text == "Thresholds of `workflow:big` set: yellow=2500, red=2800, currency=USD."

    with Session(engine) as session:
        [row] = store.list_thresholds(session)  # one source of truth: what `aispend thresholds list` shows
        assert (row.scope_kind, row.scope_key, row.period_kind) == ("workflow", "big", "month")
        assert (row.yellow, row.red, row.updated_by) == (Decimal(2500), Decimal(2800), "slack:U0FIN")
        history = session.exec(select(ThresholdAudit).order_by(col(ThresholdAudit.id))).all()
        slack = session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
    assert [(h.actor, h.before and h.before["red"]["amount"], h.after["red"]["amount"]) for h in history] == [
        ("slack:U0FIN", None, "10000"),
        ("slack:U0FIN", "10000", "2800"),
    ]
    first = {"yellow": "2500", "red": "10000", "currency": "USD", "period": "month"}
    second = {**first, "red": "2800"}
    assert [(a.user_id, a.action, a.target, a.before, a.after) for a in slack] == [
        ("U0FIN", "thresholds.set", "workflow:big", None, first),
        ("U0FIN", "thresholds.set", "workflow:big", first, second),
    ]


def test_status_forecast_changes_and_workflow_use_governance(engine: Engine) -> None:
    seed(engine)
    commands = wire(load_settings(), engine, lambda: NOW, stream=io.StringIO()).bot.commands
    set_levels(engine, "150", "300")  # big spent $400: red on actual
    with Session(engine) as session:
        rule = Threshold(Scope("company"), "month", Decimal(20000), Decimal(40000), "USD")
        store.set_threshold(session, rule, actor="cfo", now=NOW)
        session.commit()

    status = text_of(run_command(commands, "status", "U1", NOW))
    assert ":red_circle: workflow *big*: $400.00 (yellow $150.00, red $300.00)" in status
    assert ":large_green_circle: company: $4,000.00 (yellow $20,000.00, red $40,000.00)" in status
    assert "a1" not in status  # no threshold, and a share nobody flags
    forecast = run_command(commands, "forecast", "U1", NOW).message.text
    assert forecast.startswith("*This period:* $4,000.00 spent · forecast $")
    assert forecast.endswith("· budget $40,000.00")
    changes = run_command(commands, "changes", "U1", NOW).message.text
    # Mon-Wed against Mon-Wed of the week before: big $150 -> $300, the others unchanged.
    assert changes.startswith("*What changed and why*\n• company: $150.00 — +5.3% WoW")
    assert "• workflow big: $150.00 — +100.0% WoW" in changes
    workflow = text_of(run_command(commands, "workflow big", "U1", NOW))
    assert "$300.00" in workflow and "$150.00" in workflow  # its thresholds, from governance


# --- an alert's life: governance -> outbox -> Slack, and back --------------------------------------------


@pytest.fixture
def fake(fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


def slack_settings(fake: FakeSlack, **extra: Any) -> Settings:
    return bot_settings(fake.api_url, **QUIET_SETTINGS, **extra)


def sent(fake: FakeSlack) -> list[str]:
    return [m for m in fake.methods() if m not in ("conversations.history", "conversations.replies", "auth.test")]


def step(engine: Engine, settings: Settings, now: datetime) -> tuple[int, int]:
    evaluate_with_settings(engine, settings, now=now)
    result = deliver_notifications(engine, settings, now)
    return result.notifications, result.sent


def governance_state(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        return store.alert_json(store.find_alert(session, KEY))


def test_alert_life_from_governance_to_slack_and_back(engine: Engine, fake: FakeSlack) -> None:
    seed(engine)
    settings = slack_settings(fake)
    set_levels(engine, "1000", "10000")  # $400 spent, a month forecast above $1,200: yellow (forecast)

    assert step(engine, settings, NOW) == (1, 1)
    [post] = fake.of("chat.postMessage")
    assert post.body["channel"] == "C0FIN" and "<@U0BIG>" in post.body["text"]
    assert post.body["text"].startswith("Yellow alert (forecast): workflow big on course to pass its monthly threshold")
    original_ts = fake.history["C0FIN"][0]["ts"]

    alerts = wire(settings, engine, lambda: NOW).bot.alerts  # the Acknowledge button's handler
    alerts.acknowledge(KEY, "U0FIN")
    assert governance_state(engine)["acked_by"] == "slack:U0FIN"

    set_levels(engine, "1000", "1200")  # red (forecast): governance drops the ack given at yellow
    later = NOW + timedelta(minutes=30)
    assert step(engine, settings, later) == (1, 2)
    update = fake.of("chat.update")[-1].body
    assert update["ts"] == original_ts and update["text"].startswith("Red alert (forecast): workflow big")
    assert "Acknowledged" not in json.dumps(update["blocks"])  # Slack agrees: the ack did not cover red
    thread = fake.of("chat.postMessage")[-1].body
    assert thread["thread_ts"] == original_ts and "Level changed from yellow to red" in thread["text"]
    assert governance_state(engine)["acked_by"] is None

    escalated = later + timedelta(hours=5)  # red, unacknowledged for more than 4 hours
    assert step(engine, settings, escalated) == (1, 2)
    copy, line = fake.of("chat.postMessage")[-2:]
    assert copy.body["channel"] == "C0LEAD" and copy.body["text"].startswith("Red alert (forecast): workflow big")
    assert line.body["thread_ts"] == original_ts and "Escalated to leadership" in line.body["text"]

    wire(settings, engine, lambda: escalated).bot.alerts.snooze(KEY, "U0FIN")
    assert governance_state(engine)["snoozed_until"] == (escalated + timedelta(hours=24)).isoformat()

    set_levels(engine, "9000", "10000")  # back under: recovered
    recovered = escalated + timedelta(minutes=30)
    before = len(sent(fake))
    assert step(engine, settings, recovered)[0] == 1
    finance, leadership = fake.of("chat.update")[-2:]  # the message and its leadership copy
    assert finance.body["ts"] == original_ts and finance.body["text"].startswith("Recovered: workflow big")
    assert leadership.body["channel"] == "C0LEAD"
    assert fake.of("chat.postMessage")[-1].body["text"].startswith(":white_check_mark: Recovered")
    assert len(sent(fake)) == before + 3

    calls = sent(fake)
    assert step(engine, settings, recovered) == (0, 0)  # a re-run: nothing new, nothing sent
    assert sent(fake) == calls


class Crash(BaseException):
    """The process dying mid-send."""


class CrashOnSend:
    def __init__(self, inner: SlackTransport) -> None:
        self.inner = inner

    def send(self, row: OutboxMessage, parent: OutboxMessage | None) -> Any:
        raise Crash

    def find_delivered(self, row: OutboxMessage, parent: OutboxMessage | None) -> Any:
        return self.inner.find_delivered(row, parent)


def test_a_crash_between_marking_and_sending_never_posts_twice_nor_loses_the_alert(
    engine: Engine, fake: FakeSlack
) -> None:
    seed(engine)
    settings = slack_settings(fake)
    set_levels(engine, "150", "300")
    evaluate_with_settings(engine, settings, now=NOW)
    wired = wire(settings, engine, lambda: NOW)
    assert wired.client is not None
    dying = AlertService(
        engine,
        Outbox(engine, CrashOnSend(SlackTransport(wired.client)), lambda: NOW),
        lambda: NOW,
        finance_channel="C0FIN",
    )
    with pytest.raises(Crash):
        deliver_with(dying, engine, NOW, "USD")  # marked delivered and written, then dies sending
    assert sent(fake) == []
    with Session(engine) as session:
        assert all(n.delivered_at for n in session.exec(select(Notification)).all())

    restart = NOW + timedelta(minutes=15)  # after the outbox's in-doubt delay: Slack is asked first
    assert deliver_notifications(engine, settings, restart).notifications == 0
    assert deliver_notifications(engine, settings, restart + timedelta(minutes=1)).sent == 0
    posts = [p.body for p in fake.of("chat.postMessage")]
    assert [p["channel"] for p in posts] == ["C0FIN"] and "workflow big" in posts[0]["text"]


def test_without_a_token_the_same_messages_are_printed(engine: Engine) -> None:
    seed(engine)
    set_levels(engine, "150", "300")
    settings = load_settings(**QUIET_SETTINGS, slack_finance_channel="C0FIN")
    evaluate_with_settings(engine, settings, now=NOW)
    out = io.StringIO()
    result = deliver_notifications(engine, settings, NOW, stream=out)
    assert result.notifications == result.sent == 1
    text = out.getvalue()
    assert f"--- Slack message to C0FIN [alert:{KEY}:post] ---" in text
    assert "Red alert: workflow big over its monthly threshold" in text and "@U0BIG" in text


# --- the CLI: `aispend evaluate` and `aispend sync` deliver ----------------------------------------------


def test_cli_evaluate_delivers_and_keeps_json_on_stdout(engine: Engine, database_url: str) -> None:
    seed(engine)
    set_levels(engine, "150", "300")
    result = run_cli(["evaluate", "--json", "--at", NOW.isoformat()], database_url, **QUIET)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert KEY + "|red" in {n["dedupe_key"] for n in data["new_notifications"]}
    assert "Red alert: workflow big" in result.stderr and "1 notification(s) handed to Slack" in result.stderr
    again = run_cli(["evaluate", "--json", "--at", NOW.isoformat()], database_url, **QUIET)
    assert json.loads(again.stdout)["new_notifications"] == [] and "Red alert" not in again.stderr


def test_cli_sync_evaluates_and_delivers(engine: Engine, database_url: str) -> None:
    today = datetime.now(UTC).date()
    insert(engine, rollup(today, "500", "big", hour=0), *(rollup(today, "100", f"a{n}", hour=0) for n in range(5)))
    quiet = run_cli(["sync", "--json"], database_url, **QUIET)
    assert json.loads(quiet.output) is not None  # the sync report alone: no token, so nothing is printed
    with Session(engine) as session:
        [pending] = session.exec(select(Notification)).all()  # evaluated; waits for the next delivery
        assert pending.dedupe_key.startswith("share|workflow:big|") and pending.delivered_at is None
    result = run_cli(["sync"], database_url, **QUIET)
    assert "Red alert: workflow big, share of AI spend" in result.stdout
    assert "governance: 0 new notification(s), 1 handed to Slack, 1 message(s) sent" in result.output


def test_slack_sync_command_and_the_run_schedule_evaluate_and_deliver(engine: Engine, fake: FakeSlack) -> None:
    seed(engine)
    set_levels(engine, "150", "300")
    wired = wire(slack_settings(fake), engine, lambda: NOW)
    assert wired.bot.commands.sync is not None
    summary = wired.bot.commands.sync(NOW)  # `/aispend sync`: no source has credentials here
    assert "openai: not configured" in summary
    [post] = fake.of("chat.postMessage")
    assert post.body["channel"] == "C0FIN" and post.body["text"].startswith("Red alert: workflow big")
    # `aispend run`'s scheduled job: nothing new since.
    assert (
        _delivered(evaluate_and_deliver(engine, slack_settings(fake), NOW, alerts=wired.bot.alerts)).notifications == 0
    )
    assert len(fake.of("chat.postMessage")) == 1


def test_the_scheduled_evaluate_job_of_aispend_run_delivers_alert_messages(engine: Engine, fake: FakeSlack) -> None:
    from aispend.app import build_registry, slack_edge
    from aispend.jobs.catalog import EVALUATE
    from aispend.jobs.registry import JobContext

    seed(engine)
    set_levels(engine, "150", "300")
    settings = slack_settings(fake)
    edge = slack_edge(settings, engine, lambda: NOW)
    body = build_registry(settings, edge, lambda: NOW).body(EVALUATE)
    assert body is not None
    context = JobContext(
        name=EVALUATE, settings=settings, engine=engine, now=NOW, slot=NOW, notifier=edge.notifier, clock=lambda: NOW
    )
    assert body(context).summary.endswith("1 new notification(s), 1 delivered")
    [post] = fake.of("chat.postMessage")  # the alert message with its buttons, not a plain post
    assert post.body["channel"] == "C0FIN" and post.body["text"].startswith("Red alert: workflow big over its")
    assert any(b["type"] == "actions" for b in post.body["blocks"])  # Acknowledge, Snooze, Assign, Explain
    assert body(context).summary.endswith("0 new notification(s), 0 delivered")
    assert len(fake.of("chat.postMessage")) == 1


def _delivered(done: Evaluated) -> DeliveryResult:
    assert done.delivered is not None
    return done.delivered


def test_an_ack_from_the_cli_is_the_ack_slack_shows(engine: Engine, fake: FakeSlack) -> None:
    """One alert state: `aispend alerts ack` and the Slack button write the same row, so the Slack
    message never shows an alert as open that governance has acknowledged."""
    seed(engine)
    settings = slack_settings(fake)
    set_levels(engine, "1000", "10000")
    assert step(engine, settings, NOW) == (1, 1)
    with Session(engine) as session:
        store.ack_alert(session, KEY, who="maria", now=NOW)  # what `aispend alerts ack --by maria` writes
        session.commit()
    wire(settings, engine, lambda: NOW).bot.alerts.assign(KEY, "U0FIN", "U0NEW")  # the next change re-renders it
    update = fake.of("chat.update")[-1].body
    assert "Acknowledged by maria" in json.dumps(update["blocks"])
    with Session(engine) as session:
        [entry] = session.exec(select(AuditEntry)).all()
    assert entry.before is not None and entry.before["state"] == "acknowledged"
