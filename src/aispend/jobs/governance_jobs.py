"""Governance as scheduled jobs: evaluation (after every sync and on its own timer), delivery of the
governance outbox through the notifier, the quarterly model review, and the gauges /metrics shows.

Delivery: each pending notification is posted with its own dedupe key and then marked delivered, so
a crash between the two re-sends at most once and a re-run of evaluation never sends again. When the
Slack app brings its own outbox consumer, build the registry with `deliver_outbox=False`. A
notification the Slack app's delivery set aside (it could not be delivered) is named in the job's
summary and under `set_aside` in its data, once: it is marked failed and not tried again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Engine, func, select
from sqlmodel import col

from aispend.core.governance import outbox
from aispend.core.governance.evaluate import evaluate_with_settings
from aispend.core.governance.models import AlertState, Notification
from aispend.core.governance.outbox import DeliveryResult
from aispend.core.governance.review import model_review
from aispend.core.ledger.db import session_scope
from aispend.jobs.notify import Notifier
from aispend.jobs.registry import JobContext, JobResult

ALERTS_CHANNEL = "alerts"  # owners' alerts
LEADERSHIP_CHANNEL = "leadership"  # escalations and reviews
OPEN_LEVELS = ("yellow", "red")


def evaluate_job(
    context: JobContext,
    *,
    deliver_outbox: bool = True,
    deliver: Callable[[JobContext], DeliveryResult] | None = None,
) -> JobResult:
    """`deliver`: the Slack app's own delivery (alert messages through the bot's outbox, see
    bot/serve.py); without it, plain posts through the notifier."""
    result = evaluate_with_settings(context.engine, context.settings, context.now)
    delivered = DeliveryResult(0, 0)
    if deliver is not None:
        delivered = deliver(context)
    elif deliver_outbox:
        delivered = deliver_pending(context.engine, context.notifier, context)
    deliver_outbox = deliver_outbox or deliver is not None
    summary = f"{len(result.findings)} finding(s), {len(result.new_notifications)} new notification(s)"
    if deliver_outbox:
        summary += f", {delivered.notifications} delivered"
    if delivered.set_aside:
        first = delivered.set_aside[0]
        summary += f", {len(delivered.set_aside)} set aside ({first.dedupe_key}: {first.reason})"
    if result.errors:
        summary += f"; {len(result.errors)} rule error(s): {result.errors[0]}"
    data = {"errors": result.errors, "set_aside": [failed.as_json() for failed in delivered.set_aside]}
    return JobResult(summary=summary, data=data)


def deliver_pending(engine: Engine, notifier: Notifier, context: JobContext) -> DeliveryResult:
    """Plain posts (title and text, no payload to read), so nothing here is set aside."""
    delivered = 0
    for item in outbox.pending(engine):
        channel = LEADERSHIP_CHANNEL if item["audience"] == "leadership" else ALERTS_CHANNEL
        owner = f" (owner {item['owner']})" if item.get("owner") else ""
        notifier.post(channel, f"{item['title']}{owner}\n{item['text']}", dedupe_key=item["dedupe_key"])
        outbox.mark_delivered(engine, item["id"], at=context.clock(), ref=f"#{channel}")
        delivered += 1
    return DeliveryResult(delivered, delivered)


def quarterly_review_job(context: JobContext) -> JobResult:
    with session_scope(context.engine) as session:
        findings = model_review(session, context.now, context.settings)
    quarter = findings[0].period if findings else "last 91 days"
    lines = [f"Quarterly model review ({quarter}): {len(findings)} finding(s)"]
    lines += [f"- {finding.summary}" for finding in findings] or ["- nothing to change"]
    key = f"quarterly-review:{context.slot_key}"
    context.notifier.post(LEADERSHIP_CHANNEL, "\n".join(lines), dedupe_key=key)
    return JobResult(summary=f"{len(findings)} finding(s) posted to #{LEADERSHIP_CHANNEL}")


def open_alerts_by_level(engine: Engine) -> Mapping[str, int]:
    """Alerts currently yellow or red (acknowledged or not), by level: the /metrics gauge."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(col(AlertState.level), func.count())
            .where(col(AlertState.level).in_(OPEN_LEVELS))
            .group_by(col(AlertState.level))
        ).all()
    counts = dict.fromkeys(OPEN_LEVELS, 0)
    counts.update({str(level): int(count) for level, count in rows})
    return counts


def outbox_depth(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(Notification)
                .where(col(Notification.delivered_at).is_(None), col(Notification.failed_at).is_(None))
            ).scalar_one()
        )
