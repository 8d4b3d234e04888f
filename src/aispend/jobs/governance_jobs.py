"""Governance as scheduled jobs: evaluation (after every sync and on its own timer), the quarterly
model review, and the gauges /metrics shows.

The evaluation job runs the composition root's one "evaluate, then deliver" sequence
(aispend.app.evaluate_and_deliver: the bot's alert messages, exactly once) and reports it. A
notification the delivery set aside (it could not be delivered) is named in the job's summary and
under `set_aside` in its data, once: it is marked failed and not tried again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Engine, func, select
from sqlmodel import col

from aispend.core.governance.evaluate import Evaluated
from aispend.core.governance.models import AlertState, Notification
from aispend.core.governance.review import model_review
from aispend.core.ledger.db import session_scope
from aispend.jobs.registry import JobContext, JobResult

ALERTS_CHANNEL = "alerts"  # owners' alerts
LEADERSHIP_CHANNEL = "leadership"  # escalations and reviews
OPEN_LEVELS = ("yellow", "red")


def evaluate_job(context: JobContext, *, evaluate: Callable[[JobContext], Evaluated]) -> JobResult:
    """`evaluate`: evaluation as of the job's time, then delivery of what it found."""
    done = evaluate(context)
    result, delivered = done.result, done.delivered
    summary = f"{len(result.findings)} finding(s), {len(result.new_notifications)} new notification(s)"
    if delivered is not None:
        summary += f", {delivered.notifications} delivered"
    set_aside = delivered.set_aside if delivered is not None else ()
    if set_aside:
        first = set_aside[0]
        summary += f", {len(set_aside)} set aside ({first.dedupe_key}: {first.reason})"
    if result.errors:
        summary += f"; {len(result.errors)} rule error(s): {result.errors[0]}"
    data = {"errors": result.errors, "set_aside": [failed.as_json() for failed in set_aside]}
    return JobResult(summary=summary, data=data)


def quarterly_review_job(context: JobContext) -> JobResult:
    with session_scope(context.engine) as session:
        findings = model_review(session, now=context.now, settings=context.settings)
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
