"""The monthly review (first business day): the shadow-AI audit of the month that just ended,
posted to finance; the governance thresholds review joins it at merge (registration point below).

Privacy follows the shadow-AI rules: per-person lines only go to AISPEND_SHADOW_FINANCE_CHANNEL; without
that setting the review goes to the logical "finance" channel with the general (teams-only) audience.
"""

from __future__ import annotations

from aispend.jobs.notify import FINANCE_CHANNEL
from aispend.jobs.registry import JobContext, JobResult
from aispend.shadow.audit import previous_month
from aispend.shadow.render import FINANCE, GENERAL, report_text
from aispend.shadow.service import monthly_report


def monthly_review_job(context: JobContext) -> JobResult:
    settings = context.settings
    month = previous_month(context.now)
    report = monthly_report(context.engine, month, context.now, settings)
    if settings.shadow_finance_channel:
        channel, audience = settings.shadow_finance_channel, FINANCE
    else:
        channel, audience = FINANCE_CHANNEL, GENERAL
    text = f"Monthly review, {month:%B %Y}: shadow AI\n\n" + report_text(
        report, audience, settings.shadow_min_group_size
    )
    context.notifier.post(channel, text, dedupe_key=f"monthly-review:shadow-ai:{month:%Y-%m}")
    # REGISTRATION POINT (governance): thresholds against actual spend for `month`, posted to the same
    # channel with dedupe key f"monthly-review:thresholds:{month:%Y-%m}".
    return JobResult(summary=f"shadow-AI audit for {month:%Y-%m} posted to #{channel} ({audience} audience)")
