"""Data quality as findings: unpriced models, tokens with zero cost, unattributed spend, stale
sources and drift between per-call logs and the bills."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aispend.core.money import format_money, money_json, percent
from aispend.core.rules.findings import COMPANY, Finding, Level, Scope, money, one_currency
from aispend.core.rules.freshness import read_freshness
from aispend.core.rules.periods import Period
from aispend.core.rules.reconciliation import ReconRow, drifting, period_totals
from aispend.core.rules.spend import SpendRow
from aispend.core.timeutil import as_utc, days_label

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class DataQualityPolicy:
    unattributed_max_pct: Decimal = Decimal(10)
    stale_after_hours: float = 48
    drift_max_pct: Decimal = Decimal(5)
    bill_lag_days: int = 2  # bills settle a day or two late: the last days are not compared
    drift_min_spend: Decimal = Decimal(10)


def _in(rows: Iterable[SpendRow], period: Period, today: date) -> list[SpendRow]:
    return [r for r in rows if period.start <= r.day <= today and r.day < period.end]


def unpriced_findings(rows: Sequence[SpendRow], period: Period, now: datetime) -> list[Finding]:
    mine = _in(rows, period, as_utc(now).date())
    unpriced: dict[str, int] = defaultdict(int)
    zero: dict[str, int] = defaultdict(int)
    for row in mine:
        if row.unpriced_calls:
            unpriced[f"{row.provider}/{row.model}"] += row.unpriced_calls
        if row.zero_cost_calls:
            zero[f"{row.provider}/{row.model}"] += row.zero_cost_calls
    out = []
    for rule, counts, what in (
        ("dq_unpriced", unpriced, "calls with no known price"),
        ("dq_zero_cost", zero, "calls with tokens but a cost of exactly 0"),
    ):
        total = sum(counts.values())
        names = ", ".join(f"{k} ({v:,})" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
        out.append(
            Finding(
                rule,
                COMPANY,
                period.key,
                Level.YELLOW if total else Level.OK,
                f"{total:,} {what} in {period.key}" + (f": {names}" if names else ""),
                {"calls": total, "by_model": dict(sorted(counts.items()))},
                span=period,
            )
        )
    return out


def unconverted_findings(
    missing: Sequence[tuple[str, date, Decimal, str]], period: Period, now: datetime
) -> list[Finding]:
    """Amounts in another currency left out of every figure for want of a dated rate
    ((currency, day, amount, reason) in the period so far): yellow, naming currency and days."""
    today = as_utc(now).date()
    mine = [m for m in missing if period.start <= m[1] <= today]
    by_currency: dict[str, list[tuple[str, date, Decimal, str]]] = defaultdict(list)
    for item in sorted(mine):
        by_currency[item[0]].append(item)
    parts = []
    for currency, items in sorted(by_currency.items()):
        amount = format_money(sum((i[2] for i in items), ZERO), currency)
        days = days_label([i[1] for i in items])
        parts.append(f"{amount} in {currency} ({days}) — {items[0][3]}")
    message = (
        "Left out of every figure for want of an exchange rate: " + "; ".join(parts)
        if parts
        else f"Every amount in {period.key} converts to the company currency"
    )
    numbers = {
        "missing": [
            {"currency": c, "day": d.isoformat(), "amount": money_json(a, c), "reason": r} for c, d, a, r in mine
        ]
    }
    return [
        Finding(
            "dq_unconverted", COMPANY, period.key, Level.YELLOW if parts else Level.OK, message, numbers, span=period
        )
    ]


def unattributed_findings(
    rows_by_dim: Mapping[str, Sequence[SpendRow]], period: Period, now: datetime, policy: DataQualityPolicy
) -> list[Finding]:
    """Share of spend with no workflow / no team; `rows_by_dim` maps "workflow" and "team" to spend rows
    carrying that dimension (rows with every dimension work too)."""
    out = []
    for dim in ("workflow", "team"):
        mine = _in(rows_by_dim.get(dim, ()), period, as_utc(now).date())
        currency = one_currency((r.currency for r in mine), where=f"unattributed share in {period.key}")
        if currency is None:
            continue
        total = sum((r.cost for r in mine), ZERO)
        loose = sum((r.cost for r in mine if not getattr(r, dim)), ZERO)
        pct = percent(loose, total) if total > 0 else None
        level = Level.YELLOW if pct is not None and pct > policy.unattributed_max_pct else Level.OK
        out.append(
            Finding(
                f"dq_unattributed_{dim}",
                COMPANY,
                period.key,
                level,
                f"{pct if pct is not None else 0}% of AI spend in {period.key} has no {dim} "
                f"({format_money(loose, currency)} of {format_money(total, currency)})",
                {
                    "unattributed": money(loose, currency),
                    "total": money(total, currency),
                    "share_pct": str(pct) if pct is not None else None,
                    "limit_pct": str(policy.unattributed_max_pct),
                },
                span=period,
            )
        )
    return out


def stale_source_findings(
    states: Mapping[str, Mapping[str, Any]], now: datetime, policy: DataQualityPolicy, period: Period
) -> list[Finding]:
    """Per source (its sync_state row by name), judged by the age of its newest data (`rules.freshness`)."""
    limit = timedelta(hours=policy.stale_after_hours)
    limit_hours = _whole(policy.stale_after_hours)
    out = []
    for name in sorted(states):
        src = read_freshness(name, states[name], now, limit)
        scope = Scope("source", src.source)
        if src.seen_at is None or src.seen_age is None:
            out.append(
                Finding(
                    "dq_stale_source",
                    scope,
                    period.key,
                    Level.NO_DATA,
                    f"source {src.source} has never synced successfully"
                    + (f": {src.last_error}" if src.last_error else ""),
                    {"last_error": src.last_error},
                    span=period,
                )
            )
            continue
        stale = src.data_stale
        hours = int(src.seen_age.total_seconds() // 3600)
        text = f"source {src.source}: freshest data is {hours} h old" + (f" (limit {limit_hours} h)" if stale else "")
        if stale and src.last_error:
            text += f"; last error: {src.last_error}"
        out.append(
            Finding(
                "dq_stale_source",
                scope,
                period.key,
                Level.YELLOW if stale else Level.OK,
                text,
                {
                    "age_hours": hours,
                    "limit_hours": limit_hours,
                    "freshest_data_at": src.seen_at.isoformat(),
                    "last_error": src.last_error,
                },
                span=period,
            )
        )
    return out


def _whole(hours: float) -> float | int:
    """48.0 as 48 (AISPEND_SYNC_STALE_HOURS is a float, the finding has always shown whole hours as such)."""
    return int(hours) if float(hours).is_integer() else hours


def reconciliation_findings(
    rows: Sequence[ReconRow], period: Period, now: datetime, policy: DataQualityPolicy
) -> list[Finding]:
    """Per provider: the one reconciliation's day rows (`reconciliation.reconcile`) summed over the
    period's settled days, for providers with both per-call logs and bills there."""
    cutoff = as_utc(now).date() - timedelta(days=policy.bill_lag_days)
    settled = [r for r in rows if r.day is not None and period.start <= r.day < min(cutoff, period.end)]
    logged = {r.provider for r in settled if r.calls or r.calls_cost}
    billed = {r.provider for r in settled if r.bill is not None}
    totals: dict[str, list[ReconRow]] = defaultdict(list)
    for total in period_totals(r for r in settled if r.provider in logged & billed):
        totals[total.provider].append(total)
    out = []
    for provider, by_currency in sorted(totals.items()):
        currency = one_currency((t.currency for t in by_currency), where=f"reconciliation of {provider}")
        assert currency is not None
        [total] = by_currency
        log_total, bill_total = total.calls_cost, total.bill or ZERO
        drift = percent(log_total - bill_total, bill_total)
        level = Level.YELLOW if drifting(total, policy.drift_max_pct, policy.drift_min_spend) else Level.OK
        out.append(
            Finding(
                "dq_reconciliation",
                Scope("provider", provider),
                period.key,
                level,
                f"provider {provider}: per-call logs {format_money(log_total, currency)} vs bills "
                f"{format_money(bill_total, currency)} up to {cutoff.isoformat()}"
                + (f" ({'+' if drift and drift > 0 else ''}{drift}%)" if drift is not None else ""),
                {
                    "logs": money(log_total, currency),
                    "bills": money(bill_total, currency),
                    "drift_pct": str(drift) if drift is not None else None,
                    "limit_pct": str(policy.drift_max_pct),
                    "until": cutoff.isoformat(),
                },
                span=period,
            )
        )
    return out
