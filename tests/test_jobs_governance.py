"""Governance as jobs: evaluation delivers the outbox through the notifier exactly once, the gauges
count open alerts and undelivered notifications, and the quarterly model review is posted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from aispend.core.settings import Settings
from aispend.jobs.governance_jobs import evaluate_job, open_alerts_by_level, outbox_depth, quarterly_review_job
from aispend.jobs.registry import JobContext
from tests.governance_builders import insert, rollup

NOW = datetime(2026, 11, 10, 18, 0, tzinfo=UTC)


@dataclass
class Posts:
    sent: list[tuple[str, str, str | None]] = field(default_factory=list)

    def post(self, channel: str, text: str, *, dedupe_key: str | None = None) -> None:
        self.sent.append((channel, text, dedupe_key))


def _context(engine: Engine, posts: Posts, name: str = "evaluate") -> JobContext:
    return JobContext(
        name=name, settings=Settings(), engine=engine, now=NOW, slot=NOW, notifier=posts, clock=lambda: NOW
    )


def test_evaluation_delivers_new_notifications_once(engine: Engine) -> None:
    # Workflow "a" is 75% of the month's AI spend: red on share of spend.
    insert(engine, rollup(date(2026, 11, 10), "90", "a"), rollup(date(2026, 11, 10), "30", "b"))
    posts = Posts()
    result = evaluate_job(_context(engine, posts))
    keys = [key for _channel, _text, key in posts.sent]
    assert "share|workflow:a|2026-11|red" in keys
    assert {channel for channel, _text, _key in posts.sent} <= {"alerts", "leadership"}
    assert f"{len(posts.sent)} delivered" in result.summary
    assert outbox_depth(engine) == 0
    assert open_alerts_by_level(engine)["red"] >= 1

    again = Posts()
    evaluate_job(_context(engine, again))
    assert again.sent == []  # nothing changed: nothing sent twice


def test_without_delivery_the_outbox_keeps_them_for_the_slack_consumer(engine: Engine) -> None:
    insert(engine, rollup(date(2026, 11, 10), "90", "a"), rollup(date(2026, 11, 10), "30", "b"))
    posts = Posts()
    result = evaluate_job(_context(engine, posts), deliver_outbox=False)
    assert posts.sent == [] and "delivered" not in result.summary
    assert outbox_depth(engine) >= 1


def test_quarterly_model_review_is_posted_to_leadership(engine: Engine) -> None:
    insert(engine, rollup(date(2026, 10, 1), "500", "a", model="gpt-4o"))
    posts = Posts()
    result = quarterly_review_job(_context(engine, posts, "quarterly_review"))
    ((channel, text, key),) = posts.sent
    assert channel == "leadership" and text.startswith("Quarterly model review")
    assert key == f"quarterly-review:quarterly_review:{NOW.isoformat()}"
    assert result.summary.endswith("posted to #leadership")
