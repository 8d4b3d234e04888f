"""Importing exports into the ledger (real database), the monthly audit over it, and the CLI commands."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select
from typer.testing import CliRunner

from aispend.cli.main import app
from aispend.connectors.expenses.ingest import ingest_files
from aispend.core.settings import Settings
from aispend.core.shadow.models import ShadowExpense
from aispend.core.shadow.render import FINANCE, report_json
from aispend.core.shadow.service import monthly_report
from tests.conftest import FIXTURES

SHADOW_FIXTURES = FIXTURES / "shadow"
NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
PLATFORMS = ["expensify", "ramp", "brex", "concur", "navan"]


def _settings(database_url: str = "sqlite://", **extra: object) -> Settings:
    values: dict[str, object] = {"database_url": database_url, "rates_file": SHADOW_FIXTURES / "rates.csv"}
    return Settings(**(values | extra))  # type: ignore[arg-type]


def _snapshot(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(select(ShadowExpense.__table__).order_by("source", "natural_key")).all()  # type: ignore[attr-defined]
    return [tuple(r)[1:-1] for r in rows]  # without id and ingested_at


def test_reimporting_every_platform_changes_nothing(engine: Engine) -> None:
    settings = _settings()
    first = [ingest_files(engine, [SHADOW_FIXTURES / f"{p}.csv"], p, {}, settings, NOW) for p in PLATFORMS]
    assert all(r.errors == [] for r in first), [r.errors for r in first]
    before = _snapshot(engine)
    assert len(before) == sum(r.inserted for r in first) == 37
    later = datetime(2026, 11, 4, tzinfo=UTC)
    again = [ingest_files(engine, [SHADOW_FIXTURES / f"{p}.csv"], p, {}, settings, later) for p in PLATFORMS]
    assert [(r.inserted, r.updated) for r in again] == [(0, 0)] * 5
    assert sum(r.unchanged for r in again) == 37
    assert _snapshot(engine) == before


def test_stored_money_is_exact_and_converted(engine: Engine) -> None:
    ingest_files(engine, [SHADOW_FIXTURES / "ramp.csv"], "ramp", {}, _settings(), NOW)
    with engine.connect() as conn:
        eur = conn.execute(select(ShadowExpense.__table__).where(ShadowExpense.transaction_id == "6f1c0a52-0007")).one()  # type: ignore[attr-defined]
    assert eur.amount == Decimal("22.00") and eur.currency == "EUR"
    assert eur.company_amount == Decimal("24.2") and eur.company_currency == "USD"


def test_a_corrected_row_updates_in_place(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Transaction ID,Date,Merchant,Amount\n77,2026-10-02,OPENAI,20.00\n")
    ingest_files(engine, [path], "generic", {}, _settings(), NOW)
    path.write_text("Transaction ID,Date,Merchant,Amount\n77,2026-10-02,OPENAI,25.00\n")
    result = ingest_files(engine, [path], "generic", {}, _settings(), NOW)
    assert (result.inserted, result.updated) == (0, 1)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ShadowExpense.__table__)).scalar_one() == 1  # type: ignore[attr-defined]


def test_missing_rate_rows_are_skipped_with_a_clear_error_and_the_rest_stored(engine: Engine) -> None:
    result = ingest_files(engine, [SHADOW_FIXTURES / "ramp.csv"], "ramp", {}, _settings(rates_file=None), NOW)
    assert result.inserted == 6
    assert result.errors[0].startswith("ramp.csv: row 7: no EUR -> USD rate for 2026-10-08")


def _history(tmp_path: Path, months: list[int]) -> Path:
    lines = ["Transaction ID,Date,Email,Department,Descriptor,Amount,Currency"]
    for m in months:
        lines.append(f"c{m},2026-{m:02d}-05,ana@acme.example,Eng,CURSOR USAGE,40.00,USD")
        lines.append(f"o{m},2026-{m:02d}-06,ben@acme.example,Eng,OPENAI *CHATGPT SUBSCR,20.00,USD")
    lines.append("spike,2026-10-20,ana@acme.example,Eng,CURSOR USAGE,400.00,USD")
    lines.append("new,2026-10-21,ben@acme.example,Eng,PERPLEXITY.AI,20.00,USD")
    path = tmp_path / f"history-{months[0]}-{months[-1]}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_first_run_over_a_year_of_history_equals_the_monthly_run(engine: Engine, tmp_path: Path) -> None:
    settings = _settings()
    ingest_files(engine, [_history(tmp_path, list(range(1, 11)))], "generic", {}, settings, NOW)
    year_at_once = report_json(monthly_report(engine, date(2026, 10, 1), now=NOW, settings=settings), FINANCE, 5)
    kinds = [f["kind"] for f in year_at_once["findings"]]  # type: ignore[index]
    assert "spend_spike" in kinds and "new_vendor" in kinds

    with engine.begin() as conn:  # same database, emptied: now import month by month
        conn.execute(delete(ShadowExpense.__table__))  # type: ignore[attr-defined]
    for month in range(1, 11):
        ingest_files(engine, [_history(tmp_path, [month])], "generic", {}, settings, NOW)
        monthly_report(engine, date(2026, month, 1), now=NOW, settings=settings)
    assert report_json(monthly_report(engine, None, now=NOW, settings=settings), FINANCE, 5) == year_at_once


# --- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str, engine: Engine) -> dict[str, str]:
    return {"AISPEND_DATABASE_URL": database_url, "AISPEND_SHADOW_RATES_FILE": str(SHADOW_FIXTURES / "rates.csv")}


def test_cli_scan_json_one_object_per_row(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["shadow", "scan", str(SHADOW_FIXTURES / "expensify.csv"), "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.output.splitlines()]
    assert [o["row"] for o in objects] == list(range(1, 10))
    first = objects[0]
    assert {
        "file",
        "row",
        "transaction_id",
        "merchant",
        "amount",
        "currency",
        "is_ai",
        "vendor",
        "category",
        "duplicate_of",
        "reason",
    } <= set(first)
    assert first["transaction_id"] == "000981" and first["amount"] == "20.00" and first["vendor"] == "OpenAI"
    assert objects[1]["duplicate_of"] == {"file": "expensify.csv", "row": 1, "transaction_id": "000981"}
    assert objects[6]["is_ai"] is False and objects[6]["merchant"] == "OpenTable"


def test_cli_scan_json_keeps_unreadable_rows_in_place(cli_env: dict[str, str], tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text(
        "Date,Merchant,Amount\n2026-10-01,OPENAI,20.00\n2026-10-02,CURSOR USAGE,n/a\n2026-10-03,OPENTABLE,5.00\n"
    )
    result = CliRunner().invoke(app, ["shadow", "scan", str(export), "--json"], env=cli_env)
    assert result.exit_code == 1
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["row"], o["is_ai"]) for o in objects] == [(1, True), (2, None), (3, False)]
    assert objects[1]["error"] == "column 'Amount': 'n/a' is not an amount"


def test_cli_ingest_and_report(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    for platform in ("ramp", "navan"):
        done = runner.invoke(
            app, ["ingest", "expenses", str(SHADOW_FIXTURES / f"{platform}.csv"), "--format", platform], env=cli_env
        )
        assert done.exit_code == 0, done.output
    again = runner.invoke(
        app, ["ingest", "expenses", str(SHADOW_FIXTURES / "ramp.csv"), "--format", "ramp"], env=cli_env
    )
    assert "0 new, 0 updated, 8 unchanged" in again.output
    shown = runner.invoke(app, ["report", "shadow", "--month", "2026-10", "--json"], env=cli_env)
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["month"] == "2026-10" and data["currency"] == "USD"
    vendors = {v["vendor"]: v["net"] for v in data["by_vendor"]}
    assert vendors["cursor"] == "20.00" and vendors["jasper"] == "0.00"
    general = runner.invoke(app, ["report", "shadow", "--month", "2026-10", "--audience", "general"], env=cli_env)
    assert "Dana Reyes" not in general.output and "Shadow AI" in general.output


def test_cli_ingest_reports_bad_map_clearly(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app,
        ["ingest", "expenses", str(SHADOW_FIXTURES / "generic.csv"), "--format", "generic", "--map", "Nope=amount"],
        env=cli_env,
    )
    assert result.exit_code == 1
    assert "generic.csv: --map names column 'Nope', which is not in the header" in result.output


def test_employee_directory_fills_missing_departments(engine: Engine, tmp_path: Path) -> None:
    directory = tmp_path / "people.csv"
    directory.write_text("\ufeffEmail,Full Name,Team\r\nana@acme.example,Ana Diaz,Platform\r\n,Ben Ode,Growth\r\n")
    export = tmp_path / "export.csv"
    export.write_text(
        "Transaction ID,Date,Email,Employee,Department,Merchant,Amount\n"
        "1,2026-10-02,ANA@acme.example,,,OPENAI,20.00\n"
        "2,2026-10-02,,Ben Ode,,ANTHROPIC,20.00\n"
        "3,2026-10-02,ana@acme.example,,Sales,PERPLEXITY.AI,20.00\n"
    )
    settings = _settings(shadow_employee_directory=directory)
    ingest_files(engine, [export], "generic", {}, settings, NOW)
    with engine.connect() as conn:
        teams = dict(conn.execute(select(ShadowExpense.transaction_id, ShadowExpense.department)).all())  # type: ignore[call-overload]
    assert teams == {"1": "Platform", "2": "Growth", "3": "Sales"}  # the export's own department wins


def test_directory_makes_one_person_of_a_name_and_an_email_across_platforms(engine: Engine, tmp_path: Path) -> None:
    directory = tmp_path / "people.csv"
    directory.write_text("email,name,department\ngus@acme.example,Gus Ito,Research\n")
    card = tmp_path / "concur.csv"
    card.write_text(
        "Entry Key,Employee,Transaction Date,Vendor Description,Transaction Amount,Payment Type\n"
        '1,"Ito, Gus",10/06/2026,OTTER.AI MOUNTAIN VIEW CA,16.99,Company Paid\n'
    )
    claim = tmp_path / "expensify.csv"
    claim.write_text(
        "Transaction ID,Timestamp,Email,Merchant,Amount,Reimbursable\n9,10/07/26,gus@acme.example,Otter.ai,16.99,Yes\n"
    )
    settings = _settings(shadow_employee_directory=directory)
    ingest_files(engine, [card], "concur", {}, settings, NOW)
    ingest_files(engine, [claim], "expensify", {}, settings, NOW)
    report = monthly_report(engine, date(2026, 10, 1), now=NOW, settings=settings)
    assert report.by_vendor["otter-ai"].net == Decimal("16.99")  # the cash claim of the card charge counts once
    assert set(report.by_person) == {"gus@acme.example"}
