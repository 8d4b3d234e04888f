"""Issue 4's demo acceptance, and demo data → evaluate → deliver → a fake Slack (governance wired to the bot).

The demo ends on END: support-triage runs away on the 12 days before it (2.5x the runs, drafting moved to a
frontier model) and is fixed from END on (`runaway_until=END`, the 14 days after END loaded as well).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from aispend.app import deliver_notifications
from aispend.core.governance import queries, store
from aispend.core.governance.evaluate import evaluate_with_settings
from aispend.core.governance.models import Notification
from aispend.core.ledger.spend import SpendPolicy
from aispend.core.settings import Settings, load_settings
from aispend.demo.company import RUNAWAY_STARTS_DAYS_AGO, RUNAWAY_WORKFLOW
from aispend.demo.load import load_demo
from tests.fakes.slack_api import FakeSlack

END = date(2026, 11, 15)  # the day the runaway is fixed; it ran on Nov 3..14
DAYS_BEFORE = 20
DAYS_AFTER = 14
SHARE = "share|workflow:support-triage|2026-11"


def load(engine: Engine) -> None:
    loaded_at = datetime(2026, 10, 1, tzinfo=UTC)
    load_demo(engine, end=END, now=loaded_at, days=DAYS_BEFORE)
    load_demo(engine, end=END + timedelta(days=DAYS_AFTER), now=loaded_at, days=DAYS_AFTER, runaway_until=END)


def at(day: date) -> datetime:
    return datetime.combine(day, time(23, 0), UTC)


def expected_share_levels(engine: Engine, settings: Settings) -> dict[date, str]:
    """The share rule recomputed from the ledger's daily spend: trailing-window share per day of November."""
    start, stop = date(2026, 11, 1), END + timedelta(days=DAYS_AFTER)
    with Session(engine) as session:
        rows = queries.spend_rows(
            session, policy=SpendPolicy(), windows=[(start - timedelta(days=7), stop)], dims=["workflow"]
        )
    levels = {}
    day = start
    while day < stop:
        first = max(start, day + timedelta(days=1 - settings.share_window_days))
        window = [r for r in rows if first <= r.day <= day]
        total = sum((r.cost for r in window), Decimal(0))
        mine = sum((r.cost for r in window if r.workflow == RUNAWAY_WORKFLOW), Decimal(0))
        share = mine * 100 / total if total else Decimal(0)
        if total < settings.share_min_spend or share < settings.share_yellow_pct:
            levels[day] = "ok"
        else:
            levels[day] = "red" if share > settings.share_red_pct else "yellow"
        day += timedelta(days=1)
    return levels


def notifications(engine: Engine, prefix: str) -> list[Notification]:
    with Session(engine) as session:
        rows = session.exec(select(Notification).order_by(col(Notification.id))).all()
        return [n for n in rows if n.dedupe_key.startswith(prefix)]


def test_demo_runaway_turns_red_by_share_notifies_once_and_recovers_once(engine: Engine) -> None:
    load(engine)
    settings = load_settings(share_window_days=7)
    expected = expected_share_levels(engine, settings)
    red_day = min(d for d, level in expected.items() if level == "red")
    # The runaway starts RUNAWAY_STARTS_DAYS_AGO (12) days before END: Nov 3, a Tuesday, and on that very
    # day its trailing-7-day share is already far above 20% (Nov 1-2 are a quiet weekend below the minimum).
    assert red_day == END - timedelta(days=RUNAWAY_STARTS_DAYS_AGO) == date(2026, 11, 3)
    recovered_day = min(d for d, level in expected.items() if d > red_day and level == "ok")
    assert recovered_day == date(2026, 11, 21)  # the fix on Nov 15 leaves the 7-day window on Nov 21

    levels = {}
    day = date(2026, 11, 1)
    while day < END + timedelta(days=DAYS_AFTER):
        result = evaluate_with_settings(engine, settings, now=at(day))
        share = next(f for f in result.findings if f.rule == "share" and f.scope.key == RUNAWAY_WORKFLOW)
        levels[day] = share.level.value
        if day == red_day + timedelta(days=9):  # ten consecutive evaluations since it turned red
            alerts = [n for n in notifications(engine, SHARE) if n.kind == "alert"]
            assert [(n.level, n.created_at.date()) for n in alerts] == [("red", red_day)]
        day += timedelta(days=1)

    assert levels == expected
    assert min(d for d, level in levels.items() if level == "red") == red_day
    by_kind = [(n.kind, n.level, n.created_at.date()) for n in notifications(engine, SHARE)]
    assert by_kind == [
        ("alert", "red", red_day),
        ("escalation", "red", red_day + timedelta(days=1)),  # nobody acknowledged it within 4 hours
        ("recovery", "ok", recovered_day),
    ]


def _sent(fake: FakeSlack) -> list[str]:
    return [m for m in fake.methods() if m not in ("conversations.history", "conversations.replies", "auth.test")]


def test_demo_data_to_one_red_alert_in_slack_mentioning_the_owner(engine: Engine, fake_slack: FakeSlack) -> None:
    load(engine)
    with Session(engine) as session:
        store.set_workflow_owner(session, RUNAWAY_WORKFLOW, owner="U0MARIA", now=datetime(2026, 11, 1, tzinfo=UTC))
        session.commit()
    settings = load_settings(
        SLACK_BOT_TOKEN="xoxb-test",
        slack_api_url=fake_slack.api_url,
        slack_finance_channel="C0FIN",
        slack_leadership_channel="C0LEAD",
    )
    now = at(END - timedelta(days=5))  # the runaway is in full swing
    evaluate_with_settings(engine, settings, now=now)
    first = deliver_notifications(engine, settings, now)

    posts = [c.body for c in fake_slack.of("chat.postMessage")]
    assert first.notifications == len(posts) == first.sent and posts
    assert {p["channel"] for p in posts} == {"C0FIN"}  # nothing escalated yet: finance only
    finance = fake_slack.history["C0FIN"]
    runaway = [m for m in finance if m["metadata"]["event_payload"]["key"].startswith(f"alert:{SHARE}")]
    [alert] = runaway
    assert alert["text"].startswith("Red alert: workflow support-triage, share of AI spend:")
    assert "<@U0MARIA>" in alert["text"] and "of all AI spend in 2026-11" in alert["text"]
    assert any(b["type"] == "actions" for b in alert["blocks"])  # Acknowledge, Snooze, Assign, Explain
    with Session(engine) as session:
        assert all(n.delivered_at is not None for n in session.exec(select(Notification)).all())

    calls = _sent(fake_slack)
    for later in (now, now + timedelta(minutes=30)):  # a re-run, and the next evaluation (same day)
        evaluate_with_settings(engine, settings, now=later)
        again = deliver_notifications(engine, settings, later)
        assert (again.notifications, again.sent) == (0, 0)
    assert _sent(fake_slack) == calls
