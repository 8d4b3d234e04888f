"""Share of spend: one workflow taking too much of the total turns red even when totals are under
budget; plus new entrants in the top 5."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from aispend.core.money import format_money, percent
from aispend.core.rules.findings import Finding, Level, Scope, money, one_currency
from aispend.core.rules.periods import Period, period_of
from aispend.core.rules.spend import SpendRow
from aispend.core.timeutil import as_utc

SHARE_RULE = "share"
ENTRANT_RULE = "new_entrant"
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SharePolicy:
    yellow_pct: Decimal = Decimal(15)  # yellow from this share (inclusive)
    red_pct: Decimal = Decimal(20)  # red above this share
    min_total: Decimal = Decimal(100)  # below this period total nobody is paged
    period_kind: str = "month"
    top_n: int = 5
    window_days: int = 0  # 0: the period so far; N: the trailing N days (within the period)

    def __post_init__(self) -> None:
        if not Decimal(0) < self.yellow_pct <= self.red_pct <= Decimal(100):
            raise ValueError(f"share levels need 0 < yellow <= red <= 100, got {self.yellow_pct} and {self.red_pct}")


def _totals(rows: Iterable[SpendRow], start: object, end: object) -> tuple[dict[str, Decimal], list[str]]:
    out: dict[str, Decimal] = {}
    currencies = []
    for row in rows:
        if start <= row.day < end:  # type: ignore[operator]
            out[row.workflow] = out.get(row.workflow, ZERO) + row.cost
            currencies.append(row.currency)
    return out, currencies


def _top(totals: dict[str, Decimal], n: int) -> list[str]:
    named = [(k, v) for k, v in totals.items() if k and v > 0]
    return [k for k, _ in sorted(named, key=lambda kv: (-kv[1], kv[0]))[:n]]


def evaluate_share(rows: Iterable[SpendRow], now: datetime, policy: SharePolicy) -> list[Finding]:
    """Share findings for every attributed workflow with spend in the period so far, plus new entrants."""
    rows = list(rows)
    today = as_utc(now).date()
    period = period_of(policy.period_kind, today)
    end = today + timedelta(days=1)
    start = period.start
    if policy.window_days > 0:
        start = max(period.start, end - timedelta(days=policy.window_days))
    totals, currencies = _totals(rows, start, end)
    currency = one_currency(currencies, where=f"share of spend in {period.key}")
    if currency is None:
        return []
    total = sum(totals.values(), ZERO)
    findings = []
    quiet = total < policy.min_total
    for workflow in sorted(k for k in totals if k):
        amount = totals[workflow]
        share = percent(amount, total, 2) if total > 0 else None
        numbers = {
            "workflow_spend": money(amount, currency),
            "total_spend": money(total, currency),
            "share_pct": str(share) if share is not None else None,
            "yellow_pct": str(policy.yellow_pct),
            "red_pct": str(policy.red_pct),
            "min_total": money(policy.min_total, currency),
            "window": [start.isoformat(), end.isoformat()],
        }
        scope = Scope("workflow", workflow)
        if quiet or share is None:
            level = Level.OK
            summary = (
                f"{scope.label}: total spend {format_money(total, currency)} in {period.key} is below the "
                f"{format_money(policy.min_total, currency)} minimum for share alerts"
            )
        else:
            if share > policy.red_pct:
                level = Level.RED
            elif share >= policy.yellow_pct:
                level = Level.YELLOW
            else:
                level = Level.OK
            summary = (
                f"{scope.label}: {share}% of all AI spend in {period.key} "
                f"({format_money(amount, currency)} of {format_money(total, currency)})"
            )
        findings.append(Finding(SHARE_RULE, scope, period.key, level, summary, numbers, span=period))
    findings.extend(_new_entrants(rows, period, totals, total, currency, quiet, policy))
    return findings


def _new_entrants(
    rows: list[SpendRow],
    period: Period,
    totals: dict[str, Decimal],
    total: Decimal,
    currency: str,
    quiet: bool,
    policy: SharePolicy,
) -> list[Finding]:
    previous = period.previous()
    before, before_currencies = _totals(rows, previous.start, previous.end)
    one_currency([*before_currencies, currency], where=f"top {policy.top_n} of {previous.key}")
    top_now = _top(totals, policy.top_n)
    top_before = _top(before, policy.top_n)
    findings = []
    for rank, workflow in enumerate(top_now, start=1):
        # With no previous period in the ledger (its first month) everyone would be "new": nobody is.
        entered = not quiet and bool(top_before) and workflow not in top_before
        scope = Scope("workflow", workflow)
        numbers = {
            "rank": rank,
            "spend": money(totals[workflow], currency),
            "previous_top": top_before,
            "previous_period": previous.key,
        }
        if entered:
            summary = (
                f"{scope.label} entered the top {policy.top_n} at #{rank} in {period.key} "
                f"({format_money(totals[workflow], currency)}); it was not in the top {policy.top_n} "
                f"of {previous.key}"
            )
        else:
            summary = f"{scope.label} is #{rank} in {period.key}"
        findings.append(
            Finding(
                ENTRANT_RULE,
                scope,
                period.key,
                Level.YELLOW if entered else Level.OK,
                summary,
                numbers,
                span=period,
            )
        )
    # Workflows that dropped out of the top list go back to ok (so an earlier alert recovers).
    for workflow in sorted(k for k in totals if k and k not in top_now):
        findings.append(
            Finding(
                ENTRANT_RULE,
                Scope("workflow", workflow),
                period.key,
                Level.OK,
                f"workflow {workflow} is not in the top {policy.top_n} in {period.key}",
                {"spend": money(totals[workflow], currency)},
                span=period,
            )
        )
    return findings
