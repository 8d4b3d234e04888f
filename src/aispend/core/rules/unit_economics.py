"""Unit economics: AI cost against the revenue and gross margin of the features it serves.

Benchmarks: inference cost around 23% of AI revenue is typical; above 30% calls for a review.
AI cost above 10% of a feature's gross margin is the usual line. A dedicated FinOps hire tends to
pay once total AI spend passes $50,000 a month.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from aispend.core.money import ZERO, format_money, percent
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


@dataclass(frozen=True, slots=True)
class UnitEconomics:
    """One feature's (or the company's) AI cost against its revenue and gross margin, in one currency."""

    scope: Scope  # feature:<key>, or the company (the features with revenue, summed)
    cost: Decimal
    revenue: Decimal
    gross_margin: Decimal | None  # None: not known for every row summed here
    ratio_pct: Decimal | None  # AI cost / revenue, None when there is no revenue
    margin_share_pct: Decimal | None  # AI cost / gross margin, None when the margin is unknown or not positive
    level: Level
    notes: tuple[str, ...]

    @property
    def above_benchmark(self) -> bool:
        return self.ratio_pct is not None and self.ratio_pct > INDUSTRY_RATIO_PCT

    @property
    def above_review_trigger(self) -> bool:
        return self.ratio_pct is not None and self.ratio_pct > REVIEW_RATIO_PCT

    @property
    def above_margin_rule(self) -> bool:
        return self.margin_share_pct is not None and self.margin_share_pct > MARGIN_RULE_PCT


def _assess_one(scope: Scope, cost: Decimal, revenue: Decimal, gross_margin: Decimal | None) -> UnitEconomics:
    ratio = percent(cost, revenue) if revenue > 0 else None
    margin_share = percent(cost, gross_margin) if gross_margin and gross_margin > 0 else None
    line = UnitEconomics(scope, cost, revenue, gross_margin, ratio, margin_share, Level.OK, ())
    notes = []
    if line.above_review_trigger:
        notes.append(f"above the {REVIEW_RATIO_PCT}% review trigger")
    if line.above_margin_rule:
        notes.append(f"AI cost is {margin_share}% of gross margin (rule: {MARGIN_RULE_PCT}%)")
    level = Level.YELLOW if notes else Level.OK
    return UnitEconomics(scope, cost, revenue, gross_margin, ratio, margin_share, level, tuple(notes))


def assess(
    cost_by_feature: Mapping[str, Decimal], revenue: Mapping[str, FeatureRevenue], currency: str
) -> tuple[list[UnitEconomics], UnitEconomics | None]:
    """Per feature with revenue (sorted by key), and the company: the AI cost of those features over
    their revenue only (AI-product revenue: spend on features that earn nothing is not in the ratio).
    The company's level follows the same rules; it is a weighted mean of the features', so a company
    above a line always has a feature above it. Pure; amounts must be in `currency`."""
    features = []
    for feature in sorted(revenue):
        rev = revenue[feature]
        if rev.currency != currency:
            raise MixedCurrencyError(
                f"revenue of feature {feature} is in {rev.currency}, AI spend in {currency}: convert one of them"
            )
        features.append(
            _assess_one(Scope("feature", feature), cost_by_feature.get(feature, ZERO), rev.revenue, rev.gross_margin)
        )
    if not features:
        return features, None
    margins = [f.gross_margin for f in features]
    company = _assess_one(
        COMPANY,
        sum((f.cost for f in features), ZERO),
        sum((f.revenue for f in features), ZERO),
        None if None in margins else sum((m for m in margins if m is not None), ZERO),
    )
    return features, company


def unit_economics(
    cost_by_feature: Mapping[str, Decimal],
    revenue: Mapping[str, FeatureRevenue],
    total_spend: Decimal,
    currency: str,
    month: Period,
) -> list[Finding]:
    """One finding per feature with revenue (yellow above the review trigger or the gross-margin
    rule), and the FinOps-hire note. The company line is in the report, not an alert of its own."""
    out = []
    features, _company = assess(cost_by_feature, revenue, currency)
    for line in features:
        feature, cost, ratio, margin_share = line.scope.key, line.cost, line.ratio_pct, line.margin_share_pct
        text = (
            f"feature {feature}: AI cost {format_money(cost, currency)} on revenue "
            f"{format_money(line.revenue, currency)} = {ratio if ratio is not None else '-'}% "
            f"(industry ~{INDUSTRY_RATIO_PCT}%)" + (f"; {'; '.join(line.notes)}" if line.notes else "")
        )
        out.append(
            Finding(
                "unit_economics",
                line.scope,
                month.key,
                line.level,
                text,
                {
                    "ai_cost": money(cost, currency),
                    "revenue": money(line.revenue, currency),
                    "inference_to_revenue_pct": str(ratio) if ratio is not None else None,
                    "gross_margin": money(line.gross_margin, currency) if line.gross_margin is not None else None,
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
