"""The top-N report: the most expensive workflows (or teams, models...) with change and share.

`build_top_report` is pure: it takes ledger figures and returns the documented JSON shape that the
CLI prints and the Slack views render. Amounts are decimal strings with their currency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from aispend.core.ledger.queries import RunTotals, SpendRow, WorkflowInfo
from aispend.core.ledger.spend import Spend
from aispend.core.money import money_json, percent
from aispend.core.reports.periods import window_period
from aispend.core.rules.periods import Comparison, Period

UNATTRIBUTED_LABEL = "(unattributed)"


def cost_per(amount: Decimal, count: int, currency: str) -> dict[str, str] | None:
    if count <= 0:
        return None
    return money_json((amount / count).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN), currency)


def build_top_report(
    *,
    by: str,
    period: Period,
    comparison: Comparison | None,
    current_rows: Sequence[SpendRow],
    compared_rows: Sequence[SpendRow],
    previous_rows: Sequence[SpendRow],
    limit: int,
    workflows: Mapping[str, WorkflowInfo] | None = None,
    runs: Mapping[str, RunTotals] | None = None,
    outcomes: Mapping[str, int] | None = None,
    unpriced: Sequence[tuple[str, str, int]] = (),
    spend: Sequence[Spend] = (),
) -> dict[str, Any]:
    workflows = workflows or {}
    runs = runs or {}
    outcomes = outcomes or {}
    # A change compares `compared_rows` (the period's complete days) with `previous_rows` (the same
    # weekdays before): see `comparison_of`. No comparison on a period's first day.
    previous_cost = {(r.key, r.currency): r.cost for r in previous_rows}
    compared_cost = {(r.key, r.currency): r.cost for r in compared_rows}
    totals = _totals(current_rows)
    compared_totals = _totals(compared_rows)
    previous_totals = _totals(previous_rows)

    ranked = sorted(current_rows, key=lambda r: (-r.cost, r.key, r.currency))
    rows: list[dict[str, Any]] = []
    for rank, row in enumerate(ranked[:limit], start=1):
        before = previous_cost.get((row.key, row.currency), Decimal(0))
        compared = compared_cost.get((row.key, row.currency), Decimal(0))
        info = workflows.get(row.key) if by == "workflow" else None
        run_totals = runs.get(row.key) if by == "workflow" else None
        outcome_count = outcomes.get(row.key, 0) if by == "workflow" else 0
        rows.append(
            {
                "rank": rank,
                "key": row.key,
                "label": (info.display_name if info and info.display_name else row.key) or UNATTRIBUTED_LABEL,
                "cost": money_json(row.cost, row.currency),
                "compared_cost": money_json(compared, row.currency) if comparison else None,
                "previous_cost": money_json(before, row.currency) if comparison else None,
                "change_pct": _pct_str(percent(compared - before, before)) if comparison else None,
                "share_pct": _pct_str(percent(row.cost, totals[row.currency])),
                "new_entrant": comparison is not None and before == 0 and row.cost > 0,
                "calls": row.calls,
                "runs": run_totals.runs if run_totals else 0,
                "unpriced_calls": row.unpriced_calls,
                "zero_cost_calls": row.zero_cost_calls,
                "owner": info.owner if info else "",
                "team": info.team if info else "",
                "outcome_unit": info.outcome_unit if info else "",
                "outcomes": outcome_count,
                "cost_per_run": cost_per(run_totals.cost, run_totals.runs, row.currency) if run_totals else None,
                "cost_per_outcome": cost_per(row.cost, outcome_count, row.currency),
            }
        )

    rest = ranked[limit:]
    other_by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for row in rest:
        other_by_currency[row.currency] += row.cost
    return {
        "report": "top",
        "by": by,
        "period": period.as_json(with_complete=True),
        "comparison": comparison.as_json() if comparison else None,
        "previous_period": window_period(period.kind, comparison.previous).as_json(with_complete=True)
        if comparison
        else None,
        "totals": [money_json(amount, cur) for cur, amount in sorted(totals.items())],
        "compared_totals": [money_json(amount, cur) for cur, amount in sorted(compared_totals.items())],
        "previous_totals": [money_json(amount, cur) for cur, amount in sorted(previous_totals.items())],
        "total_change_pct": _total_change(compared_totals, previous_totals) if comparison else None,
        "rows": rows,
        "other": {
            "count": len(rest),
            "costs": [money_json(amount, cur) for cur, amount in sorted(other_by_currency.items())],
        },
        "unpriced": {
            "calls": sum(n for _, _, n in unpriced),
            "models": [{"provider": p, "model": m, "calls": n} for p, m, n in unpriced],
        },
        "zero_cost_calls": sum(r.zero_cost_calls for r in current_rows),
        **disclosure(spend),
    }


def disclosure(spends: Sequence[Spend]) -> dict[str, Any]:
    """What the figures are (the bill basis) and what a reader must be told about them: other
    currencies converted in, and amounts left out for want of a rate. Pure."""
    basis = spends[0].basis if spends else "billed"
    converted = sorted({c for s in spends for c in s.converted})
    missing = sorted({(u.currency, u.day, u.amount, u.reason) for s in spends for u in s.unconverted})
    notes = list(dict.fromkeys(n for s in spends for n in s.notes()))
    return {
        "cost_basis": basis,
        "converted_from": converted,
        "not_converted": [
            {"currency": c, "day": d.isoformat(), "amount": money_json(a, c), "reason": r} for c, d, a, r in missing
        ],
        "notes": notes,
    }


def _totals(rows: Sequence[SpendRow]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        out[row.currency] += row.cost
    return out


def _pct_str(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _total_change(totals: Mapping[str, Decimal], previous: Mapping[str, Decimal]) -> str | None:
    if len(totals) != 1:
        return None
    ((currency, amount),) = totals.items()
    return _pct_str(percent(amount - previous.get(currency, Decimal(0)), previous.get(currency, Decimal(0))))
