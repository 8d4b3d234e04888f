"""Shadow-AI findings for Slack, from the shadow module's monthly audit (issue 5), audience-filtered.

Finance admins see everything (people included); everyone else never sees a person, nor a team smaller than
AISPEND_SHADOW_MIN_GROUP_SIZE — the shadow module's own visibility rule.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine

from aispend.bot.views import ShadowFinding
from aispend.core.money import Money
from aispend.core.settings import Settings
from aispend.core.shadow.findings import NEW_VENDOR, SPEND_SPIKE
from aispend.core.shadow.render import FINANCE, GENERAL, visible
from aispend.core.shadow.service import monthly_report
from aispend.core.timeutil import month_start

DIGEST_KINDS = (NEW_VENDOR, SPEND_SPIKE)  # what the weekly digest calls "new" shadow AI


class ShadowSource:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def findings(self, month: date | None, *, finance: bool, now: datetime) -> list[ShadowFinding]:
        """The month's findings (default: last complete month, as `aispend report shadow`) for the audience.

        Finance: a finance admin of the bot (AISPEND_SLACK_FINANCE_ADMINS)."""
        report = monthly_report(self.engine, month, now, self.settings)
        audience = FINANCE if finance else GENERAL
        out = []
        for finding in report.findings:
            if not visible(finding, audience, self.settings.shadow_min_group_size):
                continue
            vendor = report.vendor_names.get(finding.vendor, finding.vendor) or finding.kind.replace("_", " ")
            spend = Money(finding.amount, report.currency) if finding.amount is not None else None
            out.append(ShadowFinding(vendor=vendor, detail=finding.title, spend=spend))
        return out

    def new_this_month(self, day: date, now: datetime) -> list[ShadowFinding]:
        """New vendors and spend spikes in the month containing `day`, as everyone may see them."""
        report = monthly_report(self.engine, month_start(day), now, self.settings)
        return [
            ShadowFinding(
                vendor=report.vendor_names.get(f.vendor, f.vendor),
                detail=f.title,
                spend=Money(f.amount, report.currency) if f.amount is not None else None,
            )
            for f in report.findings
            if f.kind in DIGEST_KINDS and visible(f, GENERAL, self.settings.shadow_min_group_size)
        ]
