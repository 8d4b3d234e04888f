"""`aispend ingest focus` end to end: the real CLI against the test database (AISPEND_DATABASE_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from aispend.cli.ingest_focus import render_summary
from aispend.cli.main import app
from aispend.connectors.files.focus import FocusSummary
from aispend.core.ledger.models import CostLine
from tests.conftest import FIXTURES

SAMPLE = FIXTURES / "focus" / "focus-1.0-sample.csv"


def _env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    # An empty attribution file setting means the default tag keys.
    return {"AISPEND_DATABASE_URL": database_url, "AISPEND_ATTRIBUTION_FILE": "", **extra}


@pytest.fixture(autouse=True)
def _away_from_any_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # settings read .env from the working directory


def test_cli_imports_the_sample_and_prints_the_summary(engine: Engine, database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", "focus", str(SAMPLE)], env=_env(database_url, tmp_path))
    again = runner.invoke(app, ["ingest", "focus", str(SAMPLE)], env=_env(database_url, tmp_path))

    assert first.exit_code == 0, first.output
    assert "rows read  1000" in first.stdout
    assert "inserted   1000" in first.stdout
    assert "billed cost  20.52022672899 USD" in first.stdout
    assert "of which AI-classified  -0.15189756178 USD" in first.stdout
    assert again.exit_code == 0
    assert "inserted   0" in again.stdout and "unchanged  1000" in again.stdout
    with engine.connect() as conn:
        count, total = conn.execute(select(func.count(), func.sum(CostLine.billed_cost))).one()
    assert (count, Decimal(total)) == (1000, Decimal("20.52022672899"))


def test_cli_attribution_file_is_applied(engine: Engine, database_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "attribution.toml"
    rules.write_text('[tags]\nteam = ["business_unit"]\n', encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["ingest", "focus", str(SAMPLE)],
        env=_env(database_url, tmp_path, AISPEND_ATTRIBUTION_FILE=str(rules)),
    )

    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        teams = set(conn.execute(select(CostLine.team).distinct()).scalars())
    assert "ViennaAI" in teams


def test_cli_bad_attribution_file_is_a_clear_error(database_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["ingest", "focus", str(SAMPLE)],
        env=_env(database_url, tmp_path, AISPEND_ATTRIBUTION_FILE=str(tmp_path / "missing.toml")),
    )
    assert result.exit_code == 2
    assert "attribution file not found" in result.stderr


def test_cli_reports_bad_rows_and_exits_1_in_a_real_process(engine: Engine, database_url: str, tmp_path: Path) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    bad = lines[3].replace('"USD"', '"US Dollar"', 1)
    path = tmp_path / "bad.csv"
    path.write_text("".join([*lines[:3], bad, *lines[4:11]]), encoding="utf-8")

    env = {**os.environ, **_env(database_url, tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "aispend.cli.main", "ingest", "focus", str(path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    assert f"rejected {path}:4: BillingCurrency: not an ISO 4217 currency code: 'US Dollar'" in done.stderr
    assert "rows read  10" in done.stdout and "inserted   9" in done.stdout and "rejected   1" in done.stdout
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CostLine)).scalar_one() == 9


def test_cli_missing_file_is_a_usage_error(database_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", "focus", str(tmp_path / "nope.csv")], env=_env(database_url, tmp_path))
    assert result.exit_code == 2
    # The error box wraps with the terminal width (and the temporary path's length): read it unwrapped.
    unwrapped = " ".join(line.strip("│ ") for line in result.output.splitlines())
    assert "does not exist" in " ".join(unwrapped.split())


def test_summary_lists_each_currency_with_its_ai_part() -> None:
    summary = FocusSummary(files=2, rows_read=3, rejected=1)
    summary.billed = {"USD": Decimal("1.50"), "EUR": Decimal("-0.000000000010")}
    summary.ai_billed = {"USD": Decimal("0.25")}
    summary.ai_rows = 1

    lines = render_summary(summary)

    assert lines[0] == "FOCUS import: 2 files"
    assert "  billed cost  -0.00000000001 EUR" in lines
    assert lines[lines.index("  billed cost  -0.00000000001 EUR") + 1] == "    of which AI-classified  0 EUR"
    assert "  billed cost  1.5 USD" in lines and "    of which AI-classified  0.25 USD" in lines
