"""The spend report: cost by one dimension between two dates. Pure builder."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from aispend.core.ledger.queries import SpendRow
from aispend.core.ledger.spend import Spend
from aispend.core.money import money_json, percent
from aispend.core.reports.top import UNATTRIBUTED_LABEL, _pct_str, disclosure


def build_spend_report(
    *,
    by: str,
    since: date,
    until: date,
    rows: Sequence[SpendRow],
    unpriced: Sequence[tuple[str, str, int]] = (),
    spend: Sequence[Spend] = (),
) -> dict[str, Any]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row.currency] += row.cost
    ranked = sorted(rows, key=lambda r: (-r.cost, r.key, r.currency))
    return {
        "report": "spend",
        "by": by,
        "since": since.isoformat(),
        "until": until.isoformat(),  # exclusive
        "totals": [money_json(amount, cur) for cur, amount in sorted(totals.items())],
        "rows": [
            {
                "key": row.key,
                "label": row.key or UNATTRIBUTED_LABEL,
                "cost": money_json(row.cost, row.currency),
                "share_pct": _pct_str(percent(row.cost, totals[row.currency])),
                "calls": row.calls,
                "input_tokens": row.input_tokens,
                "output_tokens": row.output_tokens,
                "unpriced_calls": row.unpriced_calls,
                "zero_cost_calls": row.zero_cost_calls,
            }
            for row in ranked
        ],
        "unpriced": {
            "calls": sum(n for _, _, n in unpriced),
            "models": [{"provider": p, "model": m, "calls": n} for p, m, n in unpriced],
        },
        "zero_cost_calls": sum(r.zero_cost_calls for r in rows),
        **disclosure(spend),
    }
