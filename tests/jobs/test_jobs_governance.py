"""Governance as jobs: evaluation delivers the outbox through the notifier exactly once, the gauges
count open alerts and undelivered notifications, and the quarterly model review is posted."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from aispend.app import evaluate_and_deliver, wire
from aispend.core.governance.evaluate import Evaluated
from aispend.core.settings import Settings
from aispend.jobs.governance_jobs import evaluate_job, open_alerts_by_level, outbox_depth, quarterly_review_job
from aispend.jobs.registry import JobContext
from tests.governance_builders import insert, rollup
from tests.notifier import Posts

NOW = datetime(2026, 11, 10, 18, 0, tzinfo=UTC)


def _context(engine: Engine, posts: Posts, name: str = "evaluate") -> JobContext:
    return JobContext(
        name=name, settings=Settings(), engine=engine, now=NOW, slot=NOW, notifier=posts, clock=lambda: NOW
    )


def _evaluate(stream: io.StringIO, *, deliver: bool = True) -> Callable[[JobContext], Evaluated]:
    """The composition root's sequence, the bot rendering its messages on `stream` (no Slack token)."""

    def run(context: JobContext) -> Evaluated:
        alerts = wire(context.settings, context.engine, lambda: NOW, stream=stream).bot.alerts
        return evaluate_and_deliver(context.engine, context.settings, context.now, alerts=alerts, deliver=deliver)

    return run


def test_evaluation_delivers_new_notifications_once(engine: Engine) -> None:
    # Workflow "a" is 75% of the month's AI spend: red on share of spend.
    insert(engine, rollup(date(2026, 11, 10), "90", "a"), rollup(date(2026, 11, 10), "30", "b"))
    stream = io.StringIO()
    result = evaluate_job(_context(engine, Posts()), evaluate=_evaluate(stream))
    assert "[alert:share|workflow:a|2026-11:post]" in stream.getvalue()  # the outbox key of its message
    delivered = int(result.summary.split(", ")[2].split()[0])
    assert delivered >= 1 and result.summary.endswith(f"{delivered} delivered")
    assert outbox_depth(engine) == 0
    assert open_alerts_by_level(engine)["red"] >= 1

    again = io.StringIO()
    second = evaluate_job(_context(engine, Posts()), evaluate=_evaluate(again))
    assert again.getvalue() == "" and second.summary.endswith(", 0 delivered")  # nothing sent twice


def test_without_delivery_the_outbox_keeps_them_for_the_next_delivery(engine: Engine) -> None:
    insert(engine, rollup(date(2026, 11, 10), "90", "a"), rollup(date(2026, 11, 10), "30", "b"))
    stream = io.StringIO()
    result = evaluate_job(_context(engine, Posts()), evaluate=_evaluate(stream, deliver=False))
    assert stream.getvalue() == "" and "delivered" not in result.summary
    assert outbox_depth(engine) >= 1


def test_quarterly_model_review_is_posted_to_leadership(engine: Engine) -> None:
    insert(engine, rollup(date(2026, 10, 1), "500", "a", model="gpt-4o"))
    posts = Posts()
    result = quarterly_review_job(_context(engine, posts, "quarterly_review"))
    ((channel, text, key),) = posts.sent
    assert channel == "leadership" and text.startswith("Quarterly model review")
    assert key == f"quarterly-review:quarterly_review:{NOW.isoformat()}"
    assert result.summary.endswith("posted to #leadership")
