"""Every CLI amount option refuses an ambiguous decimal comma and an amount the database cannot store
exactly, with a message saying why, and stores nothing; "1,500.00" and "1500" are fine."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from aispend.core.governance.models import Threshold
from aispend.core.ledger.models import Workflow
from tests.clihelp import run_cli

AMBIGUOUS = "is ambiguous: a comma may be a decimal or a thousands separator"
ESTIMATE = ["estimate", "--dau", "10", "--actions", "1", "--tokens", "100", "--model", "gpt-4o"]
SET = ["thresholds", "set", "--scope", "team:support", "--by", "cfo"]


def _thresholds(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Threshold)).one()[0])  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "args",
    [
        [*SET, "--budget", "1,50"],
        [*SET, "--yellow", "1,50", "--red", "500"],
        [*SET, "--red", "0,25"],
        [*SET, "--red", "1,500"],
        ["workflows", "set-cap", "triage", "--run-cost-cap", "1,50"],
        ["estimate", "--dau", "10", "--actions", "1,5", "--tokens", "100", "--model", "gpt-4o"],
        [*ESTIMATE, "--output-share", "0,25"],
        [*ESTIMATE, "--agentic-multiplier", "1,5"],
    ],
)
def test_an_ambiguous_decimal_comma_is_refused_by_every_amount_option(
    args: list[str], database_url: str, engine: Engine
) -> None:
    result = run_cli(args, database_url)
    assert result.exit_code == 2, result.output
    assert AMBIGUOUS in " ".join(result.output.split())
    assert _thresholds(engine) == 0
    with Session(engine) as session:
        assert session.get(Workflow, "triage") is None


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("1e30", "red level 1E+30 is above the largest amount the ledger can store"),
        ("1e400", "red level 1E+400 is above the largest amount"),
        ("0.0000000000000000001", "red level 1E-19 has more than 12 decimal places"),
    ],
)
def test_an_amount_the_database_cannot_store_exactly_is_refused(
    amount: str, why: str, database_url: str, engine: Engine
) -> None:
    result = run_cli([*SET, "--red", amount], database_url)
    assert result.exit_code == 2, result.output
    assert why in " ".join(result.output.split()) and "Traceback" not in result.output
    assert _thresholds(engine) == 0
    cap = run_cli(["workflows", "set-cap", "triage", "--run-cost-cap", amount], database_url)
    assert cap.exit_code == 2 and "run cost cap" in cap.output and "Traceback" not in cap.output


def test_grouped_and_plain_amounts_are_fine(database_url: str, engine: Engine) -> None:
    assert run_cli([*SET, "--budget", "1,500.00"], database_url).exit_code == 0
    assert run_cli([*SET, "--red", "1500"], database_url).exit_code == 0
    with Session(engine) as session:
        [row] = session.exec(select(Threshold)).all()  # type: ignore[call-overload]
    assert row[0].red == 1500
