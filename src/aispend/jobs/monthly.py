"""The monthly review (first business day), posted to finance: thresholds against actual spend for
the month that just ended (the governance rules evaluated at its last moment, nothing persisted), and
the shadow-AI audit of that month.

Privacy follows the shadow-AI rules: per-person lines only go to AISPEND_SLACK_FINANCE_CHANNEL; without
that setting the review goes to the logical "finance" channel with the general (teams-only) audience.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.evaluate import collect_findings
from aispend.core.ledger.db import session_scope
from aispend.core.shadow.audit import previous_month
from aispend.core.shadow.render import FINANCE, GENERAL, report_text
from aispend.core.shadow.service import monthly_report
from aispend.jobs.notify import FINANCE_CHANNEL
from aispend.jobs.registry import JobContext, JobResult


def monthly_review_job(context: JobContext) -> JobResult:
    settings = context.settings
    month = previous_month(context.now)
    report = monthly_report(context.engine, month, now=context.now, settings=settings)
    if settings.slack_finance_channel:
        channel, audience = settings.slack_finance_channel, FINANCE
    else:
        channel, audience = FINANCE_CHANNEL, GENERAL
    text = f"Monthly review, {month:%B %Y}: shadow AI\n\n" + report_text(
        report, audience, settings.shadow_min_group_size
    )
    thresholds = thresholds_text(context, month)
    context.notifier.post(FINANCE_CHANNEL, thresholds, dedupe_key=f"monthly-review:thresholds:{month:%Y-%m}")
    context.notifier.post(channel, text, dedupe_key=f"monthly-review:shadow-ai:{month:%Y-%m}")
    return JobResult(
        summary=f"thresholds and shadow-AI audit for {month:%Y-%m} posted (shadow AI to #{channel}, "
        f"{audience} audience)"
    )


def thresholds_text(context: JobContext, month: date) -> str:
    """Every threshold's level at the end of `month` (actual and forecast are the same by then)."""
    first_of_next = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    month_end = datetime.combine(first_of_next, datetime.min.time(), tzinfo=UTC) - timedelta(microseconds=1)
    config = GovernanceConfig.from_settings(context.settings)
    with session_scope(context.engine) as session:
        findings, _errors = collect_findings(session, now=month_end, config=config)
    rows = [f for f in findings if f.rule == "threshold"]
    lines = [f"Monthly review, {month:%B %Y}: thresholds against actual spend ({len(rows)})"]
    lines += [f"- {f.level.value.upper()}: {f.summary}" for f in rows] or [
        "- no thresholds set (`aispend thresholds set`)"
    ]
    return "\n".join(lines)
