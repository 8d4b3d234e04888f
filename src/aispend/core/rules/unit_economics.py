"""Unit economics: AI cost against the revenue and gross margin of the features it serves.

Benchmarks: inference cost around 23% of AI revenue is typical; above 30% calls for a review.
AI cost above 10% of a feature's gross margin is the usual line. A dedicated FinOps hire tends to
pay once total AI spend passes $50,000 a month.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from aispend.core.money import format_money, percent
from aispend.core.rules.findings import COMPANY, Finding, Level, MixedCurrencyError, Scope, money
from aispend.core.rules.periods import Period

INDUSTRY_RATIO_PCT = Decimal(23)
REVIEW_RATIO_PCT = Decimal(30)
MARGIN_RULE_PCT = Decimal(10)
FINOPS_MONTHLY = Decimal(50_000)


@dataclass(frozen=True, slots=True)
class FeatureRevenue:
    revenue: Decimal
    gross_margin: Decimal | None
    currency: str


def unit_economics(
    cost_by_feature: Mapping[str, Decimal],
    revenue: Mapping[str, FeatureRevenue],
    total_spend: Decimal,
    currency: str,
    month: Period,
) -> list[Finding]:
    out = []
    for feature in sorted(revenue):
        rev = revenue[feature]
        if rev.currency != currency:
            raise MixedCurrencyError(
                f"revenue of feature {feature} is in {rev.currency}, AI spend in {currency}: convert one of them"
            )
        cost = cost_by_feature.get(feature, Decimal(0))
        ratio = percent(cost, rev.revenue) if rev.revenue > 0 else None
        margin_share = percent(cost, rev.gross_margin) if rev.gross_margin and rev.gross_margin > 0 else None
        level = Level.OK
        notes = []
        if ratio is not None and ratio > REVIEW_RATIO_PCT:
            level = Level.YELLOW
            notes.append(f"above the {REVIEW_RATIO_PCT}% review trigger")
        if margin_share is not None and margin_share > MARGIN_RULE_PCT:
            level = Level.YELLOW
            notes.append(f"AI cost is {margin_share}% of gross margin (rule: {MARGIN_RULE_PCT}%)")
        text = (
            f"feature {feature}: AI cost {format_money(cost, currency)} on revenue "
            f"{format_money(rev.revenue, currency)} = {ratio if ratio is not None else '-'}% "
            f"(industry ~{INDUSTRY_RATIO_PCT}%)" + (f"; {'; '.join(notes)}" if notes else "")
        )
        out.append(
            Finding(
                "unit_economics",
                Scope("feature", feature),
                month.key,
                level,
                text,
                {
                    "ai_cost": money(cost, currency),
                    "revenue": money(rev.revenue, currency),
                    "inference_to_revenue_pct": str(ratio) if ratio is not None else None,
                    "gross_margin": money(rev.gross_margin, currency) if rev.gross_margin is not None else None,
                    "share_of_gross_margin_pct": str(margin_share) if margin_share is not None else None,
                    "benchmark_pct": str(INDUSTRY_RATIO_PCT),
                    "review_trigger_pct": str(REVIEW_RATIO_PCT),
                    "margin_rule_pct": str(MARGIN_RULE_PCT),
                },
                span=month,
            )
        )
    if total_spend >= FINOPS_MONTHLY:
        out.append(
            Finding(
                "finops_hire",
                COMPANY,
                month.key,
                Level.INFO,
                f"AI spend of {format_money(total_spend, currency)} in {month.key} passes "
                f"{format_money(FINOPS_MONTHLY, 'USD')} a month: a dedicated FinOps role usually pays "
                "for itself from here",
                {"total": money(total_spend, currency)},
                span=month,
            )
        )
    return out
