"""The real Bolt app in HTTP mode on 127.0.0.1: signed requests over real HTTP, slack_sdk on a fake Slack."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine
from sqlmodel import Session, select

from aispend.app import wire
from aispend.bot.app import Wired, build_app
from aispend.bot.digest import gather_digest, post_digest
from aispend.bot.models import AuditEntry, OutboxMessage
from aispend.bot.outbox import Outbox
from aispend.bot.replay import ReplayGuard
from aispend.bot.server import make_http_server, serve_in_thread
from aispend.bot.transport import SlackTransport
from aispend.bot.views import RECOVERED, RED, YELLOW, AlertData
from aispend.core.governance.models import AlertState, Notification, Threshold
from aispend.core.governance.store import list_thresholds
from aispend.core.ledger.models import Workflow
from aispend.core.settings import load_settings
from tests.fakes.slack_api import FakeSlack
from tests.governance_builders import pending_notification
from tests.slack_builders import alert
from tests.slack_seed import seed

SECRET = "test-signing-secret"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@dataclass
class Harness:
    fake: FakeSlack
    wired: Wired
    url: str
    engine: Engine
    sleeps: list[float]

    def post(self, body: str, *, timestamp: int | None = None, secret: str = SECRET) -> httpx.Response:
        return httpx.post(self.url, content=body.encode(), headers=signed(body, timestamp, secret), timeout=10)

    def command_body(self, text: str, user: str = "U0SOMEONE", trigger: str = "t1") -> str:
        return urlencode(
            {
                "command": "/aispend",
                "text": text,
                "user_id": user,
                "user_name": "someone",
                "team_id": "T1",
                "channel_id": "C0ASK",
                "trigger_id": trigger,
                "response_url": self.fake.response_url(trigger),
                "api_app_id": "A1",
            }
        )

    def command(self, text: str, user: str = "U0SOMEONE", trigger: str = "t1") -> httpx.Response:
        return self.post(self.command_body(text, user, trigger))

    def click(self, action_id: str, alert_key: str, user: str, action_ts: str = "1.0", **extra: Any) -> httpx.Response:
        action = {
            "action_id": action_id,
            "block_id": f"alert|{alert_key}",
            "action_ts": action_ts,
            "type": "button",
            "value": alert_key,
            **extra,
        }
        payload = {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": "T1"},
            "api_app_id": "A1",
            "trigger_id": f"trig-{action_ts}",
            "response_url": self.fake.response_url(f"act-{action_ts}"),
            "channel": {"id": "C0FIN"},
            "container": {"type": "message"},
            "actions": [action],
        }
        return self.post(urlencode({"payload": json.dumps(payload)}))

    def replies(self) -> list[dict[str, Any]]:
        return [c.body for c in self.fake.of("response")]


def signed(
    body: str | bytes,
    timestamp: int | None = None,
    secret: str = SECRET,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    """The headers Slack sends with `body`: signed with the secret, stamped now unless told otherwise."""
    ts = timestamp if timestamp is not None else int(time.time())
    text = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else body
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=text)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": signature}


@contextmanager
def running_bot(
    engine: Engine, listener_executor: Executor | None = None, **settings_extra: object
) -> Iterator[Harness]:
    """The bot in HTTP mode on 127.0.0.1 on a seeded ledger, with the real governance module.
    `settings_extra`: more settings (e.g. currency, prices_file)."""
    fake = FakeSlack(usergroups={"S0FINANCE": ["U0GROUPFIN"]}).start()
    settings = load_settings(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        slack_api_url=fake.api_url,
        slack_finance_channel="C0FIN",
        slack_leadership_channel="C0LEAD",
        slack_governance_channel="C0GOV",
        slack_finance_admins="U0FIN,S0FINANCE",
        slack_admins="U0ADMIN",
        **settings_extra,
    )
    sleeps: list[float] = []
    wired = wire(settings, engine, lambda: NOW, sleep=sleeps.append)
    assert wired.client is not None
    app = build_app(
        wired.bot, wired.client, signing_secret=SECRET, verify_token=False, listener_executor=listener_executor
    )
    server = make_http_server(app, "127.0.0.1", 0, signing_secret=SECRET, replays=ReplayGuard(engine))
    serve_in_thread(server)
    seed(engine, date(2026, 10, 1), 56, NOW)
    try:
        yield Harness(fake, wired, f"http://127.0.0.1:{server.server_port}/slack/events", engine, sleeps)
    finally:
        server.shutdown()
        server.server_close()
        fake.stop()


@pytest.fixture
def harness(engine: Engine) -> Iterator[Harness]:
    with running_bot(engine) as running:
        yield running


def thresholds(engine: Engine) -> list[Threshold]:
    with Session(engine) as session:
        return list_thresholds(session)


def audit_rows(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry)).all())


# --- signatures ---------------------------------------------------------------------------------------


def test_forged_and_expired_signatures_are_rejected(harness: Harness) -> None:
    body = urlencode({"command": "/aispend", "text": "top", "user_id": "U1", "response_url": "x", "trigger_id": "t"})
    forged = harness.post(body, secret="not-the-secret")
    expired = harness.post(body, timestamp=int(time.time()) - 10 * 60)
    assert forged.status_code == 401 and expired.status_code == 401
    assert harness.fake.calls == []
    assert harness.post("x", timestamp=int(time.time())).status_code != 401  # a good signature passes
    wrong_path = httpx.post(harness.url.replace("/slack/events", "/other"), content=b"")
    assert wrong_path.status_code == 404


# --- commands -----------------------------------------------------------------------------------------


def test_top_is_acknowledged_then_answered_through_response_url(harness: Harness) -> None:
    response = harness.command("top week 3")
    assert response.status_code == 200 and response.text == ""  # the ack: empty, immediate
    harness.fake.wait_for(lambda f: len(f.of("response")) == 1)
    reply = harness.replies()[0]
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Top 3 workflows, week of 2026-11-23")
    assert "Support triage" in reply["text"] and "Sales e-mails" in reply["text"]
    harness.command("top --share", trigger="t2")
    harness.fake.wait_for(lambda f: len(f.of("response")) == 2)
    assert harness.replies()[1]["response_type"] == "in_channel"


def test_usage_errors_and_did_you_mean(harness: Harness) -> None:
    harness.command("topp", trigger="a")
    harness.command("top 99", trigger="b")
    harness.command("workflow suport-triage", trigger="c")
    harness.fake.wait_for(lambda f: len(f.of("response")) == 3)
    by_url = {c.path.rsplit("/", 1)[-1]: c.body["text"] for c in harness.fake.of("response")}
    assert by_url["a"] == "Unknown subcommand `topp`. Did you mean `top`?\nUsage: `/aispend help`"
    assert by_url["b"] == "N must be between 1 and 25, got 99.\nUsage: `/aispend top [week|month] [N]`"
    assert by_url["c"] == (
        "No workflow named `suport-triage`. Did you mean `support-triage`?\nUsage: `/aispend workflow NAME`"
    )


def test_non_admin_thresholds_set_is_refused_and_changes_nothing(harness: Harness) -> None:
    harness.command("thresholds set workflow:support-triage yellow=400 red=500", user="U0SOMEONE")
    harness.fake.wait_for(lambda f: len(f.of("response")) == 1)
    assert harness.replies()[0]["text"] == "Only finance admins can change thresholds. Nothing was changed."
    assert thresholds(harness.engine) == []
    assert audit_rows(harness.engine) == []


def test_finance_admin_by_user_group_sets_thresholds_and_is_audited(harness: Harness) -> None:
    harness.command("thresholds set workflow:support-triage yellow=$400 red=1,500.00", user="U0GROUPFIN")
    harness.fake.wait_for(lambda f: len(f.of("response")) == 1)
    [rule] = thresholds(harness.engine)  # in the governance tables, where `aispend thresholds` reads it
    assert (rule.scope_kind, rule.scope_key, rule.yellow, rule.red) == (
        "workflow",
        "support-triage",
        Decimal(400),
        Decimal(1500),
    )
    [entry] = audit_rows(harness.engine)
    assert (entry.user_id, entry.action, entry.target) == (
        "U0GROUPFIN",
        "thresholds.set",
        "workflow:support-triage",
    )
    assert entry.before is None
    assert entry.after == {"yellow": "400", "red": "1500", "currency": "USD", "period": "month"}
    assert harness.fake.of("usergroups.users.list")[0].body["usergroup"] == "S0FINANCE"


def test_owner_change_by_current_owner_only(harness: Harness) -> None:
    harness.command("owner support-triage <@U0NEW|new>", user="U0DEV", trigger="x1")
    harness.fake.wait_for(lambda f: len(f.of("response")) == 1)
    harness.command("owner support-triage <@U0NEW|new>", user="U0OWNER", trigger="x2")
    harness.fake.wait_for(lambda f: len(f.of("response")) == 2)
    texts = [r["text"] for r in harness.replies()]
    assert texts[0].startswith("Only finance admins or the workflow's current owner")
    assert texts[1] == "Owner of `support-triage` is now <@U0NEW>."
    with Session(harness.engine) as session:
        assert session.get(Workflow, "support-triage").owner == "U0NEW"  # type: ignore[union-attr]
    [entry] = audit_rows(harness.engine)
    assert entry.before == {"owner": "U0OWNER"} and entry.after == {"owner": "U0NEW"}


# --- the digest ---------------------------------------------------------------------------------------


def _sent_methods(fake: FakeSlack) -> list[str]:
    """What was sent, without lookups (history checks, Bolt's auth.test on its first request)."""
    return [m for m in fake.methods() if m not in ("conversations.history", "conversations.replies", "auth.test")]


def test_digest_is_posted_once_with_chart_and_honours_retry_after(harness: Harness) -> None:
    harness.fake.rate_limit("chat.postMessage", 7)
    bot = harness.wired.bot
    data = gather_digest(bot.commands.ledger, bot.commands.governance, NOW)
    assert data.key == "2026-W47"
    assert data.shadow == [] and data.reconciliation_drift == []  # no expenses and no bills in this ledger
    post_digest(harness.engine, bot.outbox, data, "C0GOV")
    post_digest(harness.engine, bot.outbox, data, "C0GOV")  # a re-run posts nothing
    assert _sent_methods(harness.fake) == [
        "chat.postMessage",
        "chat.postMessage",  # 429 with Retry-After: 7, then the retry
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert harness.sleeps == [7.0]
    [message] = harness.fake.history["C0GOV"][:1]
    assert message["metadata"]["event_payload"]["key"] == "digest:2026-W47:message"
    [upload] = harness.fake.of("upload")
    assert upload.raw.startswith(b"\x89PNG")
    complete = harness.fake.of("files.completeUploadExternal")[0].body
    assert complete["channel_id"] == "C0GOV" and "2026-W47" in complete["files"][0]["title"]


def test_crash_between_write_and_send_then_restart_posts_once(harness: Harness) -> None:
    bot = harness.wired.bot
    data = gather_digest(bot.commands.ledger, bot.commands.governance, NOW)
    from aispend.bot.render import chart_title, render_digest

    with Session(harness.engine) as session:  # written, then the process "dies" before sending
        bot.outbox.post(session, f"digest:{data.key}:message", "C0GOV", render_digest(data))
        bot.outbox.upload(
            session,
            f"digest:{data.key}:chart",
            "C0GOV",
            b"\x89PNG fake",
            filename="c.png",
            title=chart_title(data),
        )
        session.commit()
    assert harness.fake.calls == []
    restarted = Outbox(harness.engine, SlackTransport(harness.wired.client), lambda: NOW)  # type: ignore[arg-type]
    assert restarted.deliver_pending() == 2
    assert restarted.deliver_pending() == 0
    assert _sent_methods(harness.fake) == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]


def test_crash_after_send_before_marking_sent_never_posts_twice(harness: Harness) -> None:
    bot = harness.wired.bot
    from aispend.bot.blocks import Message

    with Session(harness.engine) as session:
        bot.outbox.post(session, "k:1", "C0GOV", Message(text="hello"))
        bot.outbox.upload(session, "k:2", "C0GOV", b"\x89PNG", filename="c.png", title="chart k2")
        session.commit()
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()  # type: ignore[arg-type]
    for row in rows:  # claimed and sent, then the process "dies" before marking them sent
        assert row.id is not None and bot.outbox.claim(row.id, "pending")
        bot.outbox.transport.send(row, None)
    sent_before = _sent_methods(harness.fake)
    client = harness.wired.client
    assert client is not None
    assert Outbox(harness.engine, SlackTransport(client), lambda: NOW).deliver_pending() == 0
    assert _sent_methods(harness.fake) == sent_before  # within IN_DOUBT_AFTER: maybe a live sender, left alone
    later = NOW + timedelta(minutes=15)  # the restart, past IN_DOUBT_AFTER: the rows are in doubt
    restarted = Outbox(harness.engine, SlackTransport(client), lambda: later)
    restarted.deliver_pending()
    assert _sent_methods(harness.fake) == sent_before  # found in history: nothing sent again
    with Session(harness.engine) as session:
        states = session.exec(select(OutboxMessage.status, OutboxMessage.ts)).all()
    assert [s for s, _ in states] == ["sent", "sent"] and all(ts for _, ts in states)


# --- an alert's life ----------------------------------------------------------------------------------


# The alert these tests click on is a governance alert: its ack and snooze live in gov_alert_state.
GOVERNED_KEY = "threshold|workflow:support-triage|2026-11"


def governed_alert(**extra: object) -> AlertData:
    return alert(**{"key": GOVERNED_KEY, **extra})


def govern_the_alert(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(
            AlertState(
                rule="threshold",
                scope_kind="workflow",
                scope_key="support-triage",
                period="2026-11",
                level="yellow",
                since=NOW,
                evaluated_at=NOW,
            )
        )
        session.commit()


def test_alert_life_open_ack_red_recovered(harness: Harness) -> None:
    govern_the_alert(harness.engine)
    alerts = harness.wired.bot.alerts
    fake = harness.fake
    alerts.notify(governed_alert(level=YELLOW))
    alerts.notify(governed_alert(level=YELLOW))  # same level again: nothing
    key = governed_alert().key
    assert harness.click("alert_ack", key, "U0FIN", action_ts="100.1").status_code == 200
    fake.wait_for(lambda f: len(f.of("chat.update")) == 1 and len(f.of("chat.postMessage")) == 2)
    alerts.notify(governed_alert(level=RED))
    alerts.notify(governed_alert(level=RED))
    alerts.notify(governed_alert(level=RECOVERED))
    assert _sent_methods(fake) == [
        "chat.postMessage",  # the alert, in the finance channel
        "chat.update",
        "chat.postMessage",  # acknowledged: message updated + thread line
        "chat.update",
        "chat.postMessage",  # red: updated + thread line
        "chat.update",
        "chat.postMessage",  # recovered: updated + thread line
    ]
    posts = fake.of("chat.postMessage")
    original_ts = fake.history["C0FIN"][0]["ts"]
    assert posts[0].body["channel"] == "C0FIN" and "thread_ts" not in posts[0].body
    assert all(p.body["thread_ts"] == original_ts for p in posts[1:])
    assert all(u.body["ts"] == original_ts and u.body["channel"] == "C0FIN" for u in fake.of("chat.update"))
    assert "Acknowledged by <@U0FIN>" in json.dumps(fake.of("chat.update")[0].body["blocks"])
    assert "Red alert" in fake.of("chat.update")[1].body["text"]
    final = fake.history["C0FIN"][0]
    assert final["text"].startswith("Recovered") and all(b["type"] != "actions" for b in final["blocks"])
    assert "to red" in posts[2].body["text"] and posts[3].body["text"].startswith(":white_check_mark: Recovered")
    [entry] = audit_rows(harness.engine)
    assert (entry.action, entry.user_id, entry.after["state"]) == (
        "alert.acknowledge",
        "U0FIN",
        "acknowledged",
    )  # type: ignore[index]


def test_explain_and_snooze_and_escalation(harness: Harness) -> None:
    govern_the_alert(harness.engine)
    alerts = harness.wired.bot.alerts
    fake = harness.fake
    alerts.notify(governed_alert(level=RED, escalate=True))
    assert [c.body["channel"] for c in fake.of("chat.postMessage")] == ["C0FIN", "C0LEAD"]
    key = governed_alert().key
    harness.click("alert_explain", key, "U0SOMEONE", action_ts="5.5")
    fake.wait_for(lambda f: len(f.of("chat.postMessage")) == 3)
    assert "model gpt-5" in json.dumps(fake.of("chat.postMessage")[2].body["blocks"])
    harness.click("alert_snooze", key, "U0SOMEONE", action_ts="6.6")
    fake.wait_for(lambda f: len(f.of("chat.update")) == 2 and len(f.of("chat.postMessage")) == 4)
    updates = fake.of("chat.update")  # the finance message and its leadership copy
    assert [u.body["channel"] for u in updates] == ["C0FIN", "C0LEAD"]
    assert all("Snoozed until 2026-11-26 10:00" in json.dumps(u.body["blocks"]) for u in updates)
    harness.click("alert_assign", key, "U0SOMEONE", action_ts="7.7", selected_user="U0NEW")
    fake.wait_for(lambda f: len(f.of("response")) == 1)
    assert "Only finance admins or the current owner" in harness.replies()[0]["text"]


def test_app_home_is_published_on_open(harness: Harness) -> None:
    event = {
        "type": "event_callback",
        "team_id": "T1",
        "api_app_id": "A1",
        "event_id": "Ev1",
        "event_time": 1,
        "event": {"type": "app_home_opened", "user": "U0SOMEONE", "tab": "home", "channel": "D1"},
    }
    body = json.dumps(event)
    ts = int(time.time())
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=str(ts), body=body)
    response = httpx.post(
        harness.url,
        content=body.encode(),
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature,
        },
    )
    assert response.status_code == 200
    harness.fake.wait_for(lambda f: len(f.of("views.publish")) == 1)
    publish = harness.fake.of("views.publish")[0].body
    assert publish["user_id"] == "U0SOMEONE" and publish["view"]["type"] == "home"
    blob = json.dumps(publish["view"]["blocks"])
    assert "AI spend, November 2026 (so far)" in blob and "Support triage" in blob and "openai" in blob


def test_estimate_is_priced_with_genai_prices(harness: Harness) -> None:
    harness.command("estimate dau=1,000 actions=4 tokens=1000 model=gpt-4o", trigger="e1")
    harness.command("estimate dau=10 actions=1 tokens=10 model=no-such-model", trigger="e2")
    harness.fake.wait_for(lambda f: len(f.of("response")) == 2)
    by_url = {c.path.rsplit("/", 1)[-1]: c.body["text"] for c in harness.fake.of("response")}
    # gpt-4o: $2.50 / M input, $10 / M output; 750 + 250 tokens = $0.004375 per action; x 1,000 x 4 x 30
    assert by_url["e1"].startswith("*Estimated monthly cost:* $525.00 (openai gpt-4o)\n")
    assert "1,000 daily users × 4 actions × 30 days at $0.0044 per action" in by_url["e1"]
    assert by_url["e2"].startswith("No price is known for model `no-such-model`.")


def test_slow_work_happens_after_the_ack(harness: Harness) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow_sync(now: datetime) -> str:
        started.set()
        assert release.wait(10), "the test never released the sync"
        return "openai: ok"

    harness.wired.bot.commands.sync = slow_sync  # the sync seam: every source, however long it takes
    response = harness.command("sync", user="U0ADMIN", trigger="s1")
    assert response.status_code == 200  # acknowledged while the sync is still running
    assert started.wait(10) and harness.fake.of("response") == []
    release.set()
    harness.fake.wait_for(lambda f: len(f.of("response")) == 1)
    assert harness.replies()[0]["text"] == "openai: ok"
    [entry] = audit_rows(harness.engine)
    assert (entry.action, entry.user_id) == ("sync", "U0ADMIN")


class Crash(BaseException):
    """The process dying: not an error the outbox handles."""


class CrashBeforeSend:
    """Wraps the real transport; the first `crashes` sends die before anything reaches Slack."""

    def __init__(self, inner: SlackTransport, crashes: int) -> None:
        self.inner = inner
        self.crashes = crashes

    def send(self, row: OutboxMessage, parent: OutboxMessage | None) -> Any:
        if self.crashes:
            self.crashes -= 1
            raise Crash
        return self.inner.send(row, parent)

    def find_delivered(self, row: OutboxMessage, parent: OutboxMessage | None) -> Any:
        return self.inner.find_delivered(row, parent)


def test_alert_life_with_a_crash_between_write_and_send_at_every_step(harness: Harness) -> None:
    govern_the_alert(harness.engine)
    from aispend.bot.alerts import AlertService

    client = harness.wired.client
    assert client is not None

    clock = [NOW]

    def service(crashes: int) -> AlertService:
        outbox = Outbox(harness.engine, CrashBeforeSend(SlackTransport(client), crashes), lambda: clock[0])
        return AlertService(harness.engine, outbox, lambda: clock[0], finance_channel="C0FIN")

    steps = [
        lambda s: s.notify(governed_alert(level=YELLOW)),
        lambda s: s.acknowledge(governed_alert().key, "U0FIN"),
        lambda s: s.notify(governed_alert(level=RED)),
        lambda s: s.notify(governed_alert(level=RECOVERED)),
    ]
    for step in steps:
        with pytest.raises(Crash):
            step(service(crashes=1))  # written and claimed, then the process dies before sending
        clock[0] += timedelta(minutes=15)  # the restart, after IN_DOUBT_AFTER
        service(crashes=0).outbox.deliver_pending()  # delivers what was written, once
        step(service(crashes=0))  # the job runs again after the restart: nothing new to send
    assert _sent_methods(harness.fake) == [
        "chat.postMessage",
        "chat.update", "chat.postMessage",
        "chat.update", "chat.postMessage",
        "chat.update", "chat.postMessage",
    ]  # fmt: skip
    assert harness.fake.history["C0FIN"][0]["text"].startswith("Recovered")


def test_sync_is_for_admins_and_runs_the_sync_engine(harness: Harness) -> None:
    harness.command("sync", user="U0SOMEONE", trigger="n1")
    harness.fake.wait_for(lambda f: len(f.of("response")) == 1)
    assert harness.replies()[0]["text"] == "Only admins can start a sync."
    harness.command("sync", user="U0ADMIN", trigger="n2")
    harness.fake.wait_for(lambda f: len(f.of("response")) == 2, timeout=60)
    lines = harness.replies()[1]["text"].splitlines()
    assert lines and all(line.endswith(": not configured") for line in lines)  # no source has credentials here
    assert "openai: not configured" in lines


def test_sync_reply_names_a_notification_set_aside_and_the_other_alerts_go_out(harness: Harness) -> None:
    broken = pending_notification(harness.engine, "2026-11/draft", NOW - timedelta(days=1), payload={"span": {}})
    harness.command("sync", user="U0ADMIN", trigger="g1")
    harness.fake.wait_for(lambda f: len(f.of("response")) == 1, timeout=60)
    lines = harness.replies()[0]["text"].splitlines()
    assert "openai: not configured" in lines
    [aside] = [line for line in lines if line.startswith("governance:")]
    assert aside.startswith(f"governance: notification {broken} (share|workflow:wf|2026-11/draft|yellow) set aside:")
    assert "a period span needs kind, start and end" in aside
    # The evaluation's own alerts were delivered beside it: two workflows take most of the spend.
    share = [c.body for c in harness.fake.of("chat.postMessage") if "share of AI spend" in c.body["text"]]
    assert {p["channel"] for p in share} == {"C0FIN"}
    assert {p["text"].split(",")[0] for p in share} == {
        "Red alert: workflow support-triage",
        "Red alert: workflow code-review",
    }
    with Session(harness.engine) as session:
        notes = session.exec(select(Notification)).all()
    assert [n.id for n in notes if n.failed_at is not None] == [broken]
    assert all(n.delivered_at is not None for n in notes if n.id != broken)

    harness.command("sync", user="U0ADMIN", trigger="g2")  # reported once: never tried again
    harness.fake.wait_for(lambda f: len(f.of("response")) == 2, timeout=60)
    assert not [line for line in harness.replies()[1]["text"].splitlines() if line.startswith("governance:")]
