"""The weekly digest: gather (adapters), render (pure), write to the outbox, send."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine

from aispend.bot.blocks import Message
from aispend.bot.chart import render_chart
from aispend.bot.data import GovernanceSource, LedgerData, ShadowSource
from aispend.bot.outbox import Outbox
from aispend.bot.render import DIGEST_TOP, chart_title, render_digest
from aispend.bot.views import DigestData, coloured
from aispend.core.ledger.db import session_scope
from aispend.core.timeutil import as_utc, week_start

CHART_DAYS = 28


def last_complete_week(now: datetime) -> date:
    """Monday of the last complete ISO week before `now`."""
    return week_start(as_utc(now).date()) - timedelta(days=7)


def gather_digest(
    ledger: LedgerData,
    governance: GovernanceSource | None,
    now: datetime,
    week: date | None = None,
    shadow: ShadowSource | None = None,
) -> DigestData:
    start = week_start(week) if week else last_complete_week(now)
    end = start + timedelta(days=7)
    iso = start.isocalendar()
    top = ledger.top_for("week", start, as_utc(now).date())
    changes = []
    if governance is not None:
        # Seen from the Monday after the digest's week, "week over week" is that week against the one before.
        week_end = min(as_utc(now), datetime.combine(end, time(0), UTC))
        changes = governance.changes(week_end)
        top = coloured(top, governance.colours(now))
    return DigestData(
        key=f"{iso.year}-W{iso.week:02d}",
        top=top,
        budget=governance.budget(now) if governance else None,
        changes=changes,
        shadow=shadow.new_this_month(start, now) if shadow else [],
        reconciliation_drift=ledger.reconciliation_drift(start, end),
        sources=ledger.sources(now),
        daily=ledger.daily(end - timedelta(days=CHART_DAYS), end),
    )


def digest_chart(data: DigestData) -> bytes:
    currency = data.top.totals[0].currency if data.top.totals else "USD"
    top = [row.key for row in data.top.rows[:DIGEST_TOP]]
    labels = {row.key: row.label for row in data.top.rows[:DIGEST_TOP]}
    return render_chart(data.daily, top, data.top.period.end, currency, days=CHART_DAYS, labels=labels)


def post_digest(engine: Engine, outbox: Outbox, data: DigestData, channel: str) -> Message:
    """Write the digest and its chart to the outbox (once per ISO week), then deliver."""
    message = render_digest(data)
    chart = digest_chart(data)
    with session_scope(engine) as session:
        outbox.post(session, f"digest:{data.key}:message", channel, message)
        outbox.upload(
            session,
            f"digest:{data.key}:chart",
            channel,
            chart,
            filename=f"ai-spend-{data.key}.png",
            title=chart_title(data),
        )
    outbox.deliver_pending()
    return message
