"""Load the demo company into a ledger through the same ingestion path real logs take."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite

from aispend.connectors.files.calls import ImportSummary, import_calls
from aispend.connectors.files.readers import SourceRow
from aispend.core.ledger.models import Outcome, Workflow, table_of
from aispend.core.pricing import PriceBook
from aispend.demo.company import WORKFLOWS
from aispend.demo.generate import DEFAULT_DAYS, DEFAULT_SEED, generate_calls

WORKFLOWS_TABLE = table_of(Workflow)
OUTCOMES_TABLE = table_of(Outcome)


def load_demo(
    engine: Engine,
    *,
    end: date,
    now: datetime,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    prices: PriceBook | None = None,
    runaway_until: date | None = None,
) -> ImportSummary:
    """Idempotent: a second load for the same end date adds nothing. `runaway_until`: see generate_calls."""
    _upsert_workflows(engine, now)
    calls, outcomes = generate_calls(end=end, days=days, seed=seed, runaway_until=runaway_until)

    def rows() -> Iterator[SourceRow]:
        for line, fields in enumerate(calls, start=1):
            yield SourceRow("demo", line, fields)

    summary = import_calls(engine, rows(), now=now, prices=prices)
    with engine.begin() as conn:
        insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
        stmt = insert(OUTCOMES_TABLE)
        stmt = stmt.on_conflict_do_update(index_elements=["workflow", "day"], set_={"count": stmt.excluded["count"]})
        conn.execute(stmt, [{"workflow": o.workflow, "day": o.day, "count": o.count} for o in outcomes])
    return summary


def _upsert_workflows(engine: Engine, now: datetime) -> None:
    rows = [
        {
            "key": wf.key,
            "display_name": wf.display_name,
            "owner": wf.owner,
            "team": wf.team,
            "outcome_unit": wf.outcome_unit,
            "run_cost_cap": None,
            "call_token_budget": None,
            "currency": "USD",
            "updated_at": now,
        }
        for wf in WORKFLOWS
    ]
    with engine.begin() as conn:
        insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
        stmt = insert(WORKFLOWS_TABLE)
        # Keep what a person changed since (owner, caps); fill only what is missing.
        stmt = stmt.on_conflict_do_nothing(index_elements=["key"])
        conn.execute(stmt, rows)
