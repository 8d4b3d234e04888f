"""Re-price kept raw calls with the current genai-prices data (new prices, newly known models).

Only calls whose cost was computed (priced) or missing (unpriced) are touched; a cost the log gave
is the company's own figure and stays. Rollups and run totals receive the difference, so re-running
changes nothing more.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, select, update

from aispend.core.ledger.calls import (
    CALLS,
    StoredCall,
    apply_rollup_deltas,
    apply_run_deltas,
    rollup_deltas,
    run_deltas,
)
from aispend.core.ledger.models import COST_PRICED, COST_UNPRICED
from aispend.core.money import to_ledger
from aispend.core.pricing import PriceBook, TokenCounts

_CHUNK = 5000
_FIELDS = list(StoredCall.__dataclass_fields__)


@dataclass
class RepriceSummary:
    checked: int = 0
    changed: int = 0
    newly_priced: Counter[str] = field(default_factory=Counter)
    still_unpriced: Counter[tuple[str, str]] = field(default_factory=Counter)  # (model, why)
    delta: dict[str, Decimal] = field(default_factory=dict)


def reprice_calls(engine: Engine, *, since: datetime, until: datetime | None, prices: PriceBook) -> RepriceSummary:
    summary = RepriceSummary()
    last_id = 0
    while True:
        with engine.begin() as conn:
            query = (
                select(CALLS.c.id, *[CALLS.c[name] for name in _FIELDS])
                .where(
                    CALLS.c.id > last_id,
                    CALLS.c.ts >= since,
                    CALLS.c.cost_source.in_([COST_PRICED, COST_UNPRICED]),
                )
                .order_by(CALLS.c.id)
                .limit(_CHUNK)
            )
            if until is not None:
                query = query.where(CALLS.c.ts < until)
            rows = conn.execute(query).all()
            if not rows:
                return summary
            last_id = rows[-1].id
            old_calls, new_calls = [], []
            for row in rows:
                summary.checked += 1
                old = StoredCall(**{name: getattr(row, name) for name in _FIELDS})
                tokens = TokenCounts(
                    old.input_tokens,
                    old.output_tokens,
                    old.cache_read_tokens,
                    old.cache_write_tokens,
                    old.cache_write_1h_tokens,
                )
                cost = prices.cost(old.provider, old.model, old.ts, tokens, old.service_tier)
                if cost is None:
                    why = prices.unpriced_reason(
                        old.provider, old.model, old.ts, old.service_tier, old.cache_write_1h_tokens
                    )
                    summary.still_unpriced[(old.model, why)] += 1
                cost = None if cost is None else to_ledger(cost)
                if cost == old.cost:
                    continue
                new = replace(old, cost=cost, cost_source=COST_PRICED if cost is not None else COST_UNPRICED)
                conn.execute(
                    update(CALLS).where(CALLS.c.id == row.id).values(cost=new.cost, cost_source=new.cost_source)
                )
                old_calls.append(old)
                new_calls.append(new)
                summary.changed += 1
                if old.cost is None:
                    summary.newly_priced[old.model] += 1
                difference = (new.cost or Decimal(0)) - (old.cost or Decimal(0))
                summary.delta[old.currency] = summary.delta.get(old.currency, Decimal(0)) + difference
            apply_rollup_deltas(conn, rollup_deltas(old_calls, sign=-1) + rollup_deltas(new_calls))
            apply_run_deltas(conn, run_deltas(old_calls, sign=-1))
            apply_run_deltas(conn, run_deltas(new_calls))
