"""`aispend report unit-economics`: AI cost against AI-product revenue and gross margin, per feature
and for the company, with cost per outcome beside them (docs/reports.md has the JSON).

`build_unit_economics_report` is pure: the lines come from `core.rules.unit_economics.assess` (the
rules evaluation alerts on); `unit_economics_report` reads the figures (the one spend definition,
by feature and workflow, and the revenue table) and hands them to it. Its own module, so that the
other reports import no governance code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from aispend.core.governance.revenue import month_revenue
from aispend.core.ledger import queries
from aispend.core.ledger.queries import WorkflowInfo
from aispend.core.ledger.spend import Spend, SpendPolicy, spend
from aispend.core.money import ZERO, money_json
from aispend.core.reports.periods import Period, period_containing
from aispend.core.reports.top import UNATTRIBUTED_LABEL, cost_per, disclosure
from aispend.core.rules.unit_economics import (
    INDUSTRY_RATIO_PCT,
    MARGIN_RULE_PCT,
    REVIEW_RATIO_PCT,
    UnitEconomics,
    assess,
)


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What cost per outcome needs: the month's cost per (feature, workflow) and outcomes per workflow."""

    cost: Mapping[tuple[str, str], Decimal]  # (feature, workflow) -> AI cost
    outcomes: Mapping[str, int]  # workflow -> outcomes in the month
    workflows: Mapping[str, WorkflowInfo]


def _pct(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _per_outcome(features: set[str], cost: Decimal, data: Outcomes, currency: str) -> tuple[Any, int, str | None]:
    """(cost per outcome, outcomes, why there is none). A scope's cost per outcome is its AI cost over
    the outcomes of the workflows that spent it — only when each of them spent all of its month's cost
    inside the scope (a workflow's outcomes cannot be split between features) and they count the same
    outcome unit."""
    spent: dict[str, Decimal] = {}
    for (feature, workflow), amount in data.cost.items():
        if feature in features and amount:
            spent[workflow] = spent.get(workflow, ZERO) + amount
    if not spent:
        return None, 0, "no AI cost"
    if "" in spent:
        return None, 0, "part of the cost has no workflow"
    for workflow in sorted(spent):
        elsewhere = sum((a for (f, w), a in data.cost.items() if w == workflow and f not in features), ZERO)
        if elsewhere:
            return None, 0, f"workflow {workflow} also serves other features"
    units = {data.workflows[w].outcome_unit if w in data.workflows else "" for w in spent}
    if len(units) > 1:
        return None, 0, f"the workflows count different outcomes ({', '.join(sorted(units))})"
    outcomes = sum(data.outcomes.get(w, 0) for w in spent)
    if outcomes == 0:
        return None, 0, "no outcome recorded"
    return cost_per(cost, outcomes, currency), outcomes, None


def _line(line: UnitEconomics, features: set[str], data: Outcomes, currency: str, customers: int = 0) -> dict[str, Any]:
    per_outcome, outcomes, why = _per_outcome(features, line.cost, data, currency)
    return {
        "ai_cost": money_json(line.cost, currency),
        "revenue": money_json(line.revenue, currency),
        "gross_margin": money_json(line.gross_margin, currency) if line.gross_margin is not None else None,
        "cost_to_revenue_pct": _pct(line.ratio_pct),
        "share_of_gross_margin_pct": _pct(line.margin_share_pct),
        "above_benchmark": line.above_benchmark,
        "above_review_trigger": line.above_review_trigger,
        "above_margin_rule": line.above_margin_rule,
        "level": line.level.value,
        "notes": list(line.notes),
        "outcomes": outcomes,
        "cost_per_outcome": per_outcome,
        "cost_per_outcome_missing": why,
        **({"customers": customers} if line.scope.kind == "feature" else {}),
    }


def _workflows(feature: str, data: Outcomes, currency: str) -> list[dict[str, Any]]:
    rows = []
    totals: dict[str, Decimal] = {}
    for (_f, workflow), amount in data.cost.items():
        totals[workflow] = totals.get(workflow, ZERO) + amount
    mine = sorted(((w, a) for (f, w), a in data.cost.items() if f == feature and a), key=lambda x: (-x[1], x[0]))
    for workflow, amount in mine:
        info = data.workflows.get(workflow)
        outcomes = data.outcomes.get(workflow, 0) if workflow else 0
        rows.append(
            {
                "workflow": workflow,
                "label": (info.display_name if info and info.display_name else workflow) or UNATTRIBUTED_LABEL,
                "ai_cost": money_json(amount, currency),
                "workflow_ai_cost": money_json(totals[workflow], currency),
                "outcome_unit": info.outcome_unit if info else "",
                "outcomes": outcomes,
                "cost_per_outcome": cost_per(totals[workflow], outcomes, currency),
            }
        )
    return rows


def build_unit_economics_report(
    *,
    period: Period,
    currency: str,
    features: Sequence[UnitEconomics],
    company: UnitEconomics | None,
    outcomes: Outcomes,
    customers: Mapping[str, int] | None = None,
    revenue_notes: Sequence[str] = (),
    revenue_not_converted: Sequence[dict[str, str]] = (),
    unpriced: Sequence[tuple[str, str, int]] = (),
    spend: Sequence[Spend] = (),
) -> dict[str, Any]:
    customers = customers or {}
    cost_by_feature: dict[str, Decimal] = {}
    for (feature, _workflow), amount in outcomes.cost.items():
        cost_by_feature[feature] = cost_by_feature.get(feature, ZERO) + amount
    with_revenue = {line.scope.key for line in features}
    total = sum(cost_by_feature.values(), ZERO)
    without = sorted(
        ((f, a) for f, a in cost_by_feature.items() if f not in with_revenue and a), key=lambda x: (-x[1], x[0])
    )
    base = disclosure(spend)
    return {
        "report": "unit_economics",
        "month": period.start.strftime("%Y-%m"),
        "period": period.as_json(with_complete=True),
        "currency": currency,
        "benchmark_pct": str(INDUSTRY_RATIO_PCT),
        "review_trigger_pct": str(REVIEW_RATIO_PCT),
        "margin_rule_pct": str(MARGIN_RULE_PCT),
        "company": _line(company, with_revenue, outcomes, currency) if company else None,
        "features": [
            {
                "feature": line.scope.key,
                **_line(line, {line.scope.key}, outcomes, currency, customers.get(line.scope.key, 0)),
                "workflows": _workflows(line.scope.key, outcomes, currency),
            }
            for line in features
        ],
        "ai_spend": money_json(total, currency),
        "ai_spend_without_revenue": money_json(sum((a for _, a in without), ZERO), currency),
        "features_without_revenue": [
            {"feature": f, "label": f or UNATTRIBUTED_LABEL, "ai_cost": money_json(a, currency)} for f, a in without
        ],
        "revenue_not_converted": list(revenue_not_converted),
        "unpriced": {
            "calls": sum(n for _, _, n in unpriced),
            "models": [{"provider": p, "model": m, "calls": n} for p, m, n in unpriced],
        },
        **base,
        "notes": [*base["notes"], *revenue_notes],
    }


def unit_economics_report(conn: Connection, *, month: date, today: date, policy: SpendPolicy) -> dict[str, Any]:
    """The month containing `month` (to date when it is still running): AI cost by feature (the one
    spend definition) against the revenue entered for it."""
    period = period_containing("month", month, today)
    figures = spend(conn, start=period.start, end=period.end, dims=["feature", "workflow"], policy=policy, daily=False)
    by_pair = figures.by("feature", "workflow")
    cost_by_feature = {feature: amount for (feature,), amount in figures.by("feature").items()}
    entered = month_revenue(conn, period.start, policy=policy)
    features, company = assess(cost_by_feature, entered.by_feature, policy.currency)
    outcomes = Outcomes(
        cost={(f, w): amount for (f, w), amount in by_pair.items()},
        outcomes=queries.outcomes_by_workflow(conn, start=period.start, end=period.end),
        workflows=queries.workflow_info(conn),
    )
    return build_unit_economics_report(
        period=period,
        currency=policy.currency,
        features=features,
        company=company,
        outcomes=outcomes,
        customers=entered.customers,
        revenue_notes=entered.notes(),
        revenue_not_converted=[
            {"feature": u.feature, "customer": u.customer, "currency": u.currency, "reason": u.reason}
            for u in entered.unconverted
        ],
        unpriced=queries.unpriced_models(conn, start=period.start, end=period.end),
        spend=[figures],
    )
