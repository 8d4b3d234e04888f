"""Revenue in, unit economics out: `aispend ingest revenue` and `aispend report unit-economics` through
the real CLI on a real database (SQLite, and PostgreSQL with AISPEND_TEST_DATABASE_URL), and the
alert evaluation raises from the imported revenue once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.evaluate import evaluate
from aispend.core.governance.models import FeatureRevenue, Notification
from aispend.core.ledger.models import CallRollup, Outcome, Workflow
from tests.clihelp import run_cli
from tests.conftest import REPO_ROOT
from tests.governance_builders import insert, rollup

NOV = date(2026, 11, 2)


@pytest.fixture(autouse=True)
def _away_from_any_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # settings read .env from the working directory


def _spent(day: date, cost: str, workflow: str, feature: str) -> CallRollup:
    row = rollup(day, cost, workflow)
    row.feature = feature
    return row


def _csv(path: Path, *rows: str, header: str = "period,feature,customer,revenue,gross_margin,currency") -> Path:
    """An outside-style export: UTF-8 BOM and CRLF line ends."""
    path.write_bytes(("\ufeff" + "\r\n".join([header, *rows]) + "\r\n").encode("utf-8"))
    return path


def _report(database_url: str, month: str = "2026-11", **env: str) -> dict[str, Any]:
    result = run_cli(["report", "unit-economics", "--month", month, "--json"], database_url, **env)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _feature(report: dict[str, Any], key: str) -> dict[str, Any]:
    [line] = [f for f in report["features"] if f["feature"] == key]
    return line


def _constructed_case(engine: Engine) -> None:
    """$230,000 of inference on $1M of AI revenue; a copilot whose AI cost is 37% of its gross margin."""
    insert(
        engine,
        _spent(NOV, "230000", "assistant-agent", "assistant"),
        _spent(NOV, "3700", "copilot-agent", "copilot"),
        _spent(NOV, "500", "internal-tool", "internal"),  # no revenue: not in any ratio
        Workflow(key="assistant-agent", outcome_unit="resolved ticket", updated_at=datetime(2026, 11, 1, tzinfo=UTC)),
        Outcome(workflow="assistant-agent", day=NOV, count=46_000),
    )


def test_the_seed_numbers_on_a_constructed_case(engine: Engine, database_url: str, tmp_path: Path) -> None:
    _constructed_case(engine)
    path = _csv(
        tmp_path / "revenue.csv",
        '2026-11,assistant,,"1,000,000.00","700,000.00",USD',
        "2026-11,copilot,acme,60000,6000,USD",
        "2026-11,copilot,globex,40000,4000,usd",
    )
    imported = run_cli(["ingest", "revenue", str(path)], database_url)
    assert imported.exit_code == 0, imported.output
    assert "inserted   3" in imported.stdout and "refused    0" in imported.stdout

    report = _report(database_url)
    assistant, copilot = _feature(report, "assistant"), _feature(report, "copilot")
    assert assistant["cost_to_revenue_pct"] == "23.0"
    assert assistant["ai_cost"] == {"amount": "230000", "currency": "USD"}
    assert assistant["revenue"] == {"amount": "1000000", "currency": "USD"}
    assert (assistant["above_benchmark"], assistant["above_review_trigger"]) == (False, False)
    # At 23% of revenue, AI cost is always more than 10% of the gross margin (which is at most the revenue).
    assert assistant["above_margin_rule"] is True and assistant["share_of_gross_margin_pct"] == "32.9"
    assert assistant["notes"] == ["AI cost is 32.9% of gross margin (rule: 10%)"]
    assert assistant["cost_per_outcome"] == {"amount": "5", "currency": "USD"}  # 230,000 / 46,000 tickets
    assert assistant["workflows"][0]["outcome_unit"] == "resolved ticket"

    assert copilot["share_of_gross_margin_pct"] == "37.0" and copilot["above_margin_rule"] is True
    assert copilot["level"] == "yellow" and copilot["customers"] == 2
    assert copilot["cost_per_outcome"] is None and copilot["cost_per_outcome_missing"] == "no outcome recorded"

    company = report["company"]
    assert company["ai_cost"]["amount"] == "233700" and company["revenue"]["amount"] == "1100000"
    assert company["cost_to_revenue_pct"] == "21.2"
    assert report["ai_spend"]["amount"] == "234200"
    assert report["ai_spend_without_revenue"]["amount"] == "500"
    assert [f["feature"] for f in report["features_without_revenue"]] == ["internal"]
    assert (report["benchmark_pct"], report["review_trigger_pct"], report["margin_rule_pct"]) == ("23", "30", "10")

    table = run_cli(["report", "unit-economics", "--month", "2026-11"], database_url)
    assert table.exit_code == 0, table.output
    assert "AI cost is 37.0% of gross margin (rule: 10%)" in table.stdout


def test_reimport_changes_nothing_and_a_restatement_says_so(engine: Engine, database_url: str, tmp_path: Path) -> None:
    first = _csv(tmp_path / "a.csv", "2026-11,assistant,,1000,,USD", header="period,feature,customer,revenue,cogs,cur")
    result = run_cli(["ingest", "revenue", str(first)], database_url)
    assert result.exit_code == 1
    assert "a.csv:2: gross_margin '': required: give gross_margin, or cogs" in result.stderr

    path = _csv(
        tmp_path / "revenue.csv",
        "2026-11,assistant,,1000,400,USD",
        "2026-11,copilot,,500,,USD",
        header="period,feature,customer,revenue,cogs,currency",
    )
    once = run_cli(["ingest", "revenue", str(path)], database_url)
    again = run_cli(["ingest", "revenue", str(path)], database_url)
    assert once.exit_code == 1 and "inserted   1" in once.stdout  # copilot has neither margin nor cogs
    assert again.exit_code == 1 and "inserted   0" in again.stdout and "unchanged  1" in again.stdout
    with Session(engine) as session:
        [row] = session.execute(select(FeatureRevenue)).scalars()
        stamp = row.updated_at
    assert row.gross_margin == Decimal(600)  # revenue - cogs

    restated = _csv(
        tmp_path / "restated.csv",
        "2026-11,assistant,,1200,500,USD",
        header="period,feature,customer,revenue,cogs,currency",
    )
    result = run_cli(["ingest", "revenue", str(restated)], database_url)
    assert result.exit_code == 0, result.output
    assert "restated   1" in result.stdout
    assert (
        "restated 2026-11 feature assistant: revenue $1,000.00, gross margin $600.00 -> "
        "revenue $1,200.00, gross margin $700.00" in result.stdout
    )
    with Session(engine) as session:
        rows = list(session.execute(select(FeatureRevenue)).scalars())
    assert [(r.revenue, r.gross_margin) for r in rows] == [(Decimal(1200), Decimal(700))]
    assert rows[0].updated_at >= stamp


def test_bad_rows_are_reported_and_the_good_ones_kept(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "bad.csv",
        "2026-11,assistant,,1000,400,USD",
        '2026-11,copilot,,"1,50",1,USD',
        "2026-13,copilot,,100,10,USD",
        "2026-11,copilot,,-5,1,USD",
        "2026-11,copilot,,100,10,dollars",
        "2026-11,,,100,10,USD",
        "2026-11,assistant,,900,300,USD",
        '2026-11,"multi\r\nline",,100,10,USD',
        "2026-11,search,,100,abc,USD",
    )
    result = run_cli(["ingest", "revenue", str(path)], database_url)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = result.stderr.splitlines()
    assert errors[0].startswith("bad.csv:3: revenue '1,50': ambiguous: a comma may be a decimal")
    assert errors[1:] == [
        "bad.csv:4: period '2026-13': not a month: write YYYY-MM (e.g. 2026-03)",
        "bad.csv:5: revenue '-5': negative: revenue is an amount earned (restate the month instead)",
        "bad.csv:6: currency 'dollars': not an ISO 4217 currency code (e.g. USD)",
        "bad.csv:7: feature '': required",
        "bad.csv:8: feature 'assistant': the same period, feature and customer as bad.csv:2: one figure each",
        "bad.csv:11: gross_margin 'abc': not a number",
    ]
    assert "inserted   2" in result.stdout and "refused    7" in result.stdout
    with Session(engine) as session:
        features = sorted(r.feature for r in session.execute(select(FeatureRevenue)).scalars())
    assert features == ["assistant", "multi\nline"]


def test_a_file_without_the_columns_is_refused_in_one_line(database_url: str, tmp_path: Path) -> None:
    path = _csv(tmp_path / "wrong.csv", "2026-11,assistant,1000", header="month,feature,amount")
    result = run_cli(["ingest", "revenue", str(path)], database_url)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "wrong.csv:1: header 'month,feature,amount': no column period, revenue, gross_margin (or cogs); "
        "the header is period,feature,customer,revenue,gross_margin,currency"
    )


def test_revenue_in_another_currency_is_converted_at_the_month_rate(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    insert(engine, _spent(NOV, "110", "assistant-agent", "assistant"))
    path = _csv(tmp_path / "eur.csv", "2026-11,assistant,,1000,500,EUR")
    no_rates = run_cli(["ingest", "revenue", str(path)], database_url)
    assert no_rates.exit_code == 0, no_rates.output
    assert "warning: revenue in EUR for 2026-11 has no EUR -> USD rate" in no_rates.stderr
    left_out = _report(database_url)
    assert left_out["features"] == [] and left_out["revenue_not_converted"][0]["currency"] == "EUR"
    assert any(n.startswith("Not included: revenue of feature assistant in EUR") for n in left_out["notes"])

    rates = tmp_path / "rates.csv"
    rates.write_text("currency,effective_from,rate\nEUR,2026-10-01,1.05\nEUR,2026-11-01,1.10\n", encoding="utf-8")
    report = _report(database_url, AISPEND_RATES_FILE=str(rates))
    line = _feature(report, "assistant")
    assert line["revenue"] == {"amount": "1100", "currency": "USD"}  # the rate effective on 2026-11-01
    assert line["gross_margin"] == {"amount": "550", "currency": "USD"}
    assert line["cost_to_revenue_pct"] == "10.0" and line["share_of_gross_margin_pct"] == "20.0"
    assert "EUR" in report["notes"][-1]


def test_a_30_percent_crossing_from_imported_revenue_raises_one_alert(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    insert(engine, _spent(NOV, "310000", "assistant-agent", "assistant"))
    path = _csv(tmp_path / "revenue.csv", '2026-11,assistant,,"1,000,000.00","700,000.00",USD')
    assert run_cli(["ingest", "revenue", str(path)], database_url).exit_code == 0
    config = GovernanceConfig()
    # In the month, and again early in December (November's revenue is often entered after it closes).
    for now in (
        datetime(2026, 11, 20, tzinfo=UTC),
        datetime(2026, 11, 21, tzinfo=UTC),
        datetime(2026, 12, 3, tzinfo=UTC),
    ):
        result = evaluate(engine, now=now, config=config)
        [finding] = [f for f in result.findings if f.rule == "unit_economics"]
        assert finding.period == "2026-11" and finding.level.value == "yellow"
        assert finding.numbers["inference_to_revenue_pct"] == "31.0"
        assert "above the 30% review trigger" in finding.summary
    with Session(engine) as session:
        count = session.execute(
            select(func.count()).select_from(Notification).where(Notification.rule == "unit_economics")  # type: ignore[arg-type]
        ).scalar_one()
    assert count == 1


def _doc_block(text: str, section: str, lang: str) -> str:
    after = text[text.index(section) :]
    start = after.index(f"```{lang}\n") + len(lang) + 4
    return after[start : after.index("```", start)]


def _matches(documented: Any, printed: Any, where: str = "") -> None:
    """What the documentation shows is what the report prints (lists: their first entries)."""
    if isinstance(documented, dict):
        assert isinstance(printed, dict) and list(documented) == list(printed), where
        for key, value in documented.items():
            _matches(value, printed[key], f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(printed, list) and (not documented) == (not printed), where
        for i, value in enumerate(documented):
            _matches(value, printed[i], f"{where}[{i}]")
    else:
        assert documented == printed, where


def test_the_documented_example_is_what_the_demo_gives(tmp_path: Path) -> None:
    docs = (REPO_ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    section = "## `report unit-economics`"
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert run_cli(["demo"], url).exit_code == 0
    path = tmp_path / "revenue.csv"
    path.write_text(_doc_block(docs, section, "csv"), encoding="utf-8")
    assert run_cli(["ingest", "revenue", str(path)], url).exit_code == 0
    _matches(json.loads(_doc_block(docs, section, "json")), _report(url))


def test_a_month_without_revenue_says_how_to_enter_it_and_a_bad_month_is_refused(database_url: str) -> None:
    table = run_cli(["report", "unit-economics", "--month", "2025-01"], database_url, COLUMNS="200")
    assert table.exit_code == 0, table.output
    assert "No revenue entered for 2025-01: aispend ingest revenue FILE" in table.stdout
    assert _report(database_url, "2025-01")["company"] is None
    bad = run_cli(["report", "unit-economics", "--month", "2025-13"], database_url)
    assert bad.exit_code == 2 and "--month must be YYYY-MM, got '2025-13'" in bad.stderr
