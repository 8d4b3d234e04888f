"""Rendering of the reconciliation report: stable JSON and a terminal table. Pure."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from aispend.core.money import decimal_str, format_money
from aispend.core.rules.reconciliation import ReconRow


def row_json(row: ReconRow) -> dict[str, Any]:
    pct = row.drift_percent
    return {
        "provider": row.provider,
        "day": row.day.isoformat() if row.day else None,
        "currency": row.currency,
        "bill": decimal_str(row.bill) if row.bill is not None else None,
        "per_call": decimal_str(row.calls_cost),
        "calls": row.calls,
        "drift": decimal_str(row.drift),
        "drift_percent": decimal_str(pct) if pct is not None else None,
        "causes": [
            {"kind": c.kind, "message": c.message, **({"model": c.model} if c.model else {})}
            | ({"calls": c.calls} if c.calls else {})
            for c in row.causes
        ],
    }


def report_json(month: str, days: list[ReconRow], totals: list[ReconRow], basis: str = "billed") -> dict[str, Any]:
    return {
        "month": month,
        "cost_basis": basis,  # which bill figure the logs are compared with (AISPEND_COST_BASIS)
        "system_of_record": "bills are the totals; per-call logs give shares within a provider",
        "providers": [row_json(row) for row in totals],
        "days": [row_json(row) for row in days],
    }


def _pct(row: ReconRow) -> str:
    pct = row.drift_percent
    return "n/a" if pct is None else f"{pct}%"


def report_tables(month: str, days: list[ReconRow], totals: list[ReconRow], basis: str = "billed") -> list[Table]:
    summary = Table(title=f"Reconciliation {month}: bill ({basis} cost) vs per-call logs, per provider")
    for column in ("provider", "bill", "per-call", "drift", "drift %", "likely causes"):
        summary.add_column(column, justify="right" if column in ("bill", "per-call", "drift", "drift %") else "left")
    for row in totals:
        summary.add_row(
            row.provider,
            format_money(row.bill, row.currency) if row.bill is not None else "no bill",
            format_money(row.calls_cost, row.currency),
            format_money(row.drift, row.currency),
            _pct(row),
            "\n".join(c.message for c in row.causes) or "-",
        )
    daily = Table(title="Per provider and day")
    for column in ("day", "provider", "bill", "per-call", "drift", "drift %", "likely causes"):
        daily.add_column(column, justify="right" if column in ("bill", "per-call", "drift", "drift %") else "left")
    for row in days:
        daily.add_row(
            row.day.isoformat() if row.day else "",
            row.provider,
            format_money(row.bill, row.currency) if row.bill is not None else "no bill",
            format_money(row.calls_cost, row.currency),
            format_money(row.drift, row.currency),
            _pct(row),
            "\n".join(c.message for c in row.causes) or "-",
        )
    return [summary, daily]
