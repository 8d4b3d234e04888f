"""Small builders of bot view data for the Slack tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from aispend.bot.views import (
    RED,
    YELLOW,
    AlertData,
    BudgetLine,
    ChangeLine,
    DailyPoint,
    DigestData,
    ShadowFinding,
    SourceFreshness,
    TopReport,
    WorkflowRow,
)
from aispend.core.money import Money
from aispend.core.rules.periods import Period
from aispend.core.settings import Settings, load_settings

WEEK = Period("week", date(2026, 11, 16), date(2026, 11, 23), complete=True)


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def row(
    rank: int, key: str, cost: str, *, label: str = "", owner: str = "U0OWNER", prev: str | None = "100"
) -> WorkflowRow:
    amount = Decimal(cost)
    previous = Decimal(prev) if prev is not None else None
    return WorkflowRow(
        rank=rank,
        key=key,
        label=label or key.replace("-", " ").capitalize(),
        cost=usd(cost),
        previous_cost=usd(prev) if prev is not None else None,
        change_pct=((amount - previous) * 100 / previous).quantize(Decimal("0.1")) if previous else None,
        share_pct=Decimal("12.5"),
        calls=1200,
        runs=300,
        owner=owner,
        cost_per_run=usd(str((amount / 300).quantize(Decimal("0.0001")))),
        cost_per_outcome=usd("0.42"),
        outcome_unit="resolved ticket",
        colour=YELLOW if rank == 1 else "green",
    )


def top(rows: list[WorkflowRow], period: Period = WEEK) -> TopReport:
    total = sum((r.cost.amount for r in rows), Decimal(0))
    return TopReport(
        period=period,
        totals=[usd(str(total))] if rows else [],
        rows=rows,
        unpriced_calls=3 if rows else 0,
        compared="Mon 16 – Sun 22 Nov against Mon 9 – Sun 15 Nov 2026",
    )


def many_rows(n: int) -> list[WorkflowRow]:
    return [row(i + 1, f"workflow-{i + 1:03d}", str(5000 - i * 10), prev=str(4500 - i * 9)) for i in range(n)]


def digest(rows: list[WorkflowRow], **extra: object) -> DigestData:
    base = dict(
        key="2026-W47",
        top=top(rows),
        budget=BudgetLine(total=usd("12000"), budget=usd("40000"), forecast=usd("41250.50")),
        changes=[ChangeLine("support-triage", usd("820"), "model switched to a larger model")],
        shadow=[ShadowFinding("Midjourney", "2 new expense lines", usd("60"))],
        sources=[
            SourceFreshness("openai", datetime(2026, 11, 23, 6, tzinfo=UTC), datetime(2026, 11, 23, 5, tzinfo=UTC)),
            SourceFreshness(
                "aws",
                datetime(2026, 11, 20, 6, tzinfo=UTC),
                datetime(2026, 11, 19, tzinfo=UTC),
                last_error="AccessDenied on ce:GetCostAndUsage",
                stale=True,
            ),
        ],
        reconciliation_drift=["openai: per-call total 3.2% below the bill for 2026-11"],
        daily=[
            DailyPoint(date(2026, 10, 26) + timedelta(days=d), r.key, Decimal(10 + d))
            for d in range(28)
            for r in rows[:7]
        ],
    )
    base.update(extra)
    return DigestData(**base)  # type: ignore[arg-type]


def alert(level: str = RED, **extra: object) -> AlertData:
    base = dict(
        key="threshold:workflow:support-triage:2026-11",
        scope_kind="workflow",
        scope="support-triage",
        level=level,
        spent=usd("5120.40"),
        threshold=usd("5000"),
        period=Period("month", date(2026, 11, 1), date(2026, 12, 1), complete=False),
        owner="U0OWNER",
        forecast=usd("6100"),
        explanation=[
            ChangeLine("model gpt-5", usd("900"), "more tokens per run (+40%)"),
            ChangeLine("runs", usd("220"), "12% more tickets"),
        ],
    )
    base.update(extra)
    return AlertData(**base)  # type: ignore[arg-type]


def slack_settings(api_url: str, **extra: object) -> Settings:
    """Settings of a bot on Slack (the fake's `api_url`) with a finance and a leadership channel."""
    return load_settings(
        SLACK_BOT_TOKEN="xoxb-test",
        slack_api_url=api_url,
        slack_finance_channel="C0FIN",
        slack_leadership_channel="C0LEAD",
        **extra,
    )
