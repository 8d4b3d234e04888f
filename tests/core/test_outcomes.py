"""Cost per outcome on real call logs: a run whose calls carry an `outcome` that is not a failure is one
outcome (it was "Per outcome —" outside the demo), a recorded daily count wins for its day, and a
workflow's outcome unit and display name are set from the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from typer.testing import CliRunner

from aispend.bot.data import LedgerData
from aispend.cli.main import app
from aispend.cli.runtime import Runtime
from aispend.core.ledger.db import session_scope
from aispend.core.ledger.models import Outcome
from aispend.core.settings import load_settings

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _cli(database_url: str, args: list[str]) -> str:
    obj = Runtime(settings=load_settings(database_url=database_url), clock=lambda: NOW)
    result = CliRunner().invoke(app, args, env={"AISPEND_DATABASE_URL": database_url}, obj=obj)
    assert result.exit_code == 0, result.output
    return result.output


def _calls(tmp_path: Path) -> Path:
    # Five support runs of two calls on 17 Nov; the outcome is on each run's last call.
    outcomes = ["resolved", "Resolved", "escalated", "", "failed"]
    rows: list[dict[str, Any]] = []
    for run, outcome in enumerate(outcomes):
        for step in range(2):
            rows.append(
                {
                    "call_id": f"r{run}-{step}",
                    "timestamp": f"2026-11-17T10:0{step}:00Z",
                    "provider": "openai",
                    "model": "gpt-4o",
                    "input_tokens": 100,
                    "output_tokens": 10,
                    "cost": "0.30",
                    "workflow": "support",
                    "run_id": f"run-{run}",
                    "outcome": outcome if step == 1 else "",
                }
            )
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_outcomes_come_from_the_call_logs(engine: Engine, database_url: str, tmp_path: Path) -> None:
    _cli(database_url, ["ingest", "calls", str(_calls(tmp_path))])
    _cli(
        database_url,
        ["workflows", "set-outcome", "support", "--unit", "resolved ticket", "--display-name", "Support triage agent"],
    )

    top = json.loads(_cli(database_url, ["report", "top", "--at", "2026-11-17", "--json"]))
    [row] = top["rows"]
    assert (row["label"], row["outcome_unit"], row["outcomes"]) == ("Support triage agent", "resolved ticket", 2)
    assert row["cost_per_outcome"] == {"amount": "1.5", "currency": "USD"}  # $3.00 over 2 resolved runs
    table = _cli(database_url, ["report", "top", "--at", "2026-11-17"])
    assert "$1.50 / resolved ticket" in table

    detail = LedgerData(engine).workflow("support", NOW)  # `/aispend workflow support`
    assert detail is not None and detail.outcomes == 2 and detail.outcome_unit == "resolved ticket"
    assert detail.cost_per_outcome is not None and detail.cost_per_outcome.amount == 1.5


def test_a_recorded_daily_count_wins_for_its_day(engine: Engine, database_url: str, tmp_path: Path) -> None:
    _cli(database_url, ["ingest", "calls", str(_calls(tmp_path))])
    with session_scope(engine) as session:
        session.add(Outcome(workflow="support", day=datetime(2026, 11, 17).date(), count=4))

    top = json.loads(_cli(database_url, ["report", "top", "--at", "2026-11-17", "--json"]))
    assert top["rows"][0]["outcomes"] == 4  # not 4 + 2


def test_set_outcome_refuses_an_empty_unit(database_url: str) -> None:
    obj = Runtime(settings=load_settings(database_url=database_url), clock=lambda: NOW)
    result = CliRunner().invoke(
        app, ["workflows", "set-outcome", "support", "--unit", " "], env={"AISPEND_DATABASE_URL": database_url}, obj=obj
    )
    assert result.exit_code != 0 and "outcome unit must be 1 to 128 characters" in result.output
