from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, select

from aispend.core.ledger.models import AgentRun, CallRecord, CallRollup, CallRollupDaily, table_of
from tests.clihelp import run_cli

ROWS = [
    {
        "call_id": "a",
        "timestamp": "2026-11-20T10:00:00Z",
        "provider": "internal",
        "model": "acme-ft",
        "input_tokens": 2_000_000,
        "output_tokens": 1_000_000,
        "workflow": "wf",
        "run_id": "r1",
    },
    {
        "call_id": "b",
        "timestamp": "2026-11-20T10:05:00Z",
        "provider": "internal",
        "model": "acme-ft",
        "input_tokens": 1_000_000,
        "output_tokens": 0,
        "workflow": "wf",
        "run_id": "r1",
    },
    {
        "call_id": "c",
        "timestamp": "2026-11-20T10:06:00Z",
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1000,
        "output_tokens": 100,
        "cost": "9.99",
        "workflow": "wf",
        "run_id": "r1",
    },
]
PRICES = """
[[price]]
provider = "internal"
model = "acme-ft"
input_mtok = "0.50"
output_mtok = "1.50"
"""


def _totals(engine: Engine) -> tuple[Decimal, int, Decimal, int]:
    rollups, runs = table_of(CallRollup), table_of(AgentRun)
    with engine.connect() as conn:
        cost, unpriced = conn.execute(select(func.sum(rollups.c.cost), func.sum(rollups.c.unpriced_calls))).one()
        run_cost, run_unpriced = conn.execute(select(runs.c.cost, runs.c.unpriced_calls)).one()
        raw = conn.execute(select(func.sum(table_of(CallRecord).c.cost))).scalar_one()
        daily = conn.execute(select(func.sum(table_of(CallRollupDaily).c.cost))).scalar_one()
    assert raw == cost == daily
    return cost, int(unpriced), run_cost, int(run_unpriced)


def test_reprice_prices_newly_known_models_and_keeps_given_costs(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.jsonl"
    calls.write_text("\n".join(json.dumps(r) for r in ROWS))
    run_cli(["ingest", "calls", str(calls)], database_url)
    assert _totals(engine) == (Decimal("9.99"), 2, Decimal("9.99"), 2)

    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    env = {"AISPEND_PRICES_FILE": str(prices)}
    result = run_cli(["reprice", "--since", "2026-11-01"], database_url, **env)
    assert result.exit_code == 0, result.output
    assert "2 changed" in result.output and "acme-ft (2)" in result.output
    # 2M x 0.50 + 1M x 1.50 = 2.50; 1M x 0.50 = 0.50
    assert _totals(engine) == (Decimal("12.99"), 0, Decimal("12.99"), 0)

    again = run_cli(["reprice", "--since", "2026-11-01"], database_url, **env)
    assert "0 changed" in again.output
    assert _totals(engine) == (Decimal("12.99"), 0, Decimal("12.99"), 0)


def test_custom_prices_apply_at_ingestion_and_bad_files_are_refused(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.jsonl"
    calls.write_text(json.dumps(ROWS[1]))
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    assert run_cli(["ingest", "calls", str(calls)], database_url, AISPEND_PRICES_FILE=str(prices)).exit_code == 0
    assert _totals(engine)[0] == Decimal("0.5")
    prices.write_text('[[price]]\nmodel = "x"\n')
    result = run_cli(["ingest", "calls", str(calls)], database_url, AISPEND_PRICES_FILE=str(prices))
    assert result.exit_code == 2 and "needs input_mtok" in result.output
