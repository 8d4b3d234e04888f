"""Ledger reads that feed the reconciliation rules and the bill/per-call merge."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, func, select

from aispend.core.ledger.models import CallRollupDaily, CostLine, ProviderUsage, table_of
from aispend.core.ledger.spend import bill_figure
from aispend.core.rules.reconciliation import (
    BillTotal,
    CallTotal,
    ReconRow,
    provider_key,
    reconcile,
)

_COST = table_of(CostLine)
_ROLLUP = table_of(CallRollupDaily)  # day-grained reads: the daily rollups (same figures, fewer rows)
_USAGE = table_of(ProviderUsage)


def bill_totals(conn: Connection, *, start: date, end: date, basis: str = "billed") -> list[BillTotal]:
    """AI bill lines per canonical provider, day and currency in [start, end), on the spend basis."""
    query = (
        select(
            _COST.c.provider,
            _COST.c.service_name,
            _COST.c.charge_day,
            _COST.c.billing_currency,
            func.sum(bill_figure(basis)),
        )
        .where(_COST.c.is_ai.is_(True), _COST.c.charge_day >= start, _COST.c.charge_day < end)
        .group_by(_COST.c.provider, _COST.c.service_name, _COST.c.charge_day, _COST.c.billing_currency)
    )
    totals: dict[tuple[str, date, str], Decimal] = defaultdict(Decimal)
    for provider, service, day, currency, amount in conn.execute(query):
        totals[(provider_key(provider, service), day, currency)] += amount or Decimal(0)
    return [BillTotal(p, d, c, a) for (p, d, c), a in sorted(totals.items())]


def call_totals(conn: Connection, *, start: date, end: date) -> list[CallTotal]:
    """Per-call rollups per canonical provider, day, currency and model in [start, end)."""
    query = (
        select(
            _ROLLUP.c.provider,
            _ROLLUP.c.day,
            _ROLLUP.c.currency,
            _ROLLUP.c.model,
            func.sum(_ROLLUP.c.cost),
            func.sum(_ROLLUP.c.calls),
            func.sum(_ROLLUP.c.unpriced_calls),
            func.sum(_ROLLUP.c.zero_cost_calls),
            func.sum(_ROLLUP.c.input_tokens + _ROLLUP.c.output_tokens),
        )
        .where(_ROLLUP.c.day >= start, _ROLLUP.c.day < end)
        .group_by(_ROLLUP.c.provider, _ROLLUP.c.day, _ROLLUP.c.currency, _ROLLUP.c.model)
    )
    merged: dict[tuple[str, date, str, str], list[Decimal | int]] = {}
    for provider, day, currency, model, cost, calls, unpriced, zero, tokens in conn.execute(query):
        key = (provider_key(provider), day, currency, model)
        acc = merged.setdefault(key, [Decimal(0), 0, 0, 0, 0])
        for index, value in enumerate((cost or Decimal(0), calls, unpriced, zero, tokens)):
            acc[index] += value or 0
    return [
        CallTotal(p, d, c, m, Decimal(acc[0]), int(acc[1]), int(acc[2]), int(acc[3]), int(acc[4]))
        for (p, d, c, m), acc in sorted(merged.items())
    ]


def provider_reported_tokens(conn: Connection, *, start: date, end: date) -> dict[tuple[str, date], int]:
    """Input + output tokens the providers' usage APIs report per canonical provider and day."""
    query = (
        select(_USAGE.c.provider, _USAGE.c.day, func.sum(_USAGE.c.input_tokens + _USAGE.c.output_tokens))
        .where(_USAGE.c.day >= start, _USAGE.c.day < end)
        .group_by(_USAGE.c.provider, _USAGE.c.day)
    )
    tokens: dict[tuple[str, date], int] = defaultdict(int)
    for provider, day, total in conn.execute(query):
        tokens[(provider_key(provider), day)] += int(total or 0)
    return dict(tokens)


def reconcile_period(conn: Connection, *, start: date, end: date, basis: str = "billed") -> list[ReconRow]:
    """Bill (on the spend basis) vs per-call rows for every provider and day in [start, end)."""
    return reconcile(
        bill_totals(conn, start=start, end=end, basis=basis),
        call_totals(conn, start=start, end=end),
        provider_reported_tokens(conn, start=start, end=end),
    )
