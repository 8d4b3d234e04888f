"""The platforms' own export layouts (Expensify reconciliation and classic CSV, Ramp card transactions,
Amex and Chase card activity): recognised from the header, read without losing a row, and a file given
another platform's --format refused with nothing stored."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from aispend.cli.main import app
from aispend.connectors.expenses.formats import detect_platform, header_key
from aispend.connectors.expenses.ingest import ingest_files
from aispend.connectors.expenses.parse import FormatMismatch, parse_files, parse_text
from aispend.core.settings import Settings
from aispend.core.shadow.catalog import load_catalog
from aispend.core.shadow.classify import classify
from aispend.core.shadow.expense import KIND_CHARGE, KIND_PAYMENT, KIND_REFUND, PAID_CARD, PAID_REIMBURSABLE
from aispend.core.shadow.matcher import Matcher
from aispend.core.shadow.models import ShadowExpense
from tests.conftest import FIXTURES

REAL = FIXTURES / "shadow" / "real"
NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_catalog())


def _read(name: str, fmt: str | None = None):
    result = parse_files([REAL / name], fmt)
    assert result.errors == []
    return result


def _settings() -> Settings:
    return Settings(database_url="sqlite://", rates_file=FIXTURES / "shadow" / "rates.csv")  # type: ignore[call-arg]


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ShadowExpense.__table__)).scalar_one())  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "platform"),
    [
        ("expensify_reconciliation.csv", "expensify"),
        ("expensify_classic.csv", "expensify"),
        ("ramp_card_transactions.csv", "ramp"),
        ("amex_activity.csv", "amex"),
        ("chase_card.csv", "chase"),
        ("../brex.csv", "brex"),
        ("../concur.csv", "concur"),
        ("../navan.csv", "navan"),
    ],
)
def test_platform_is_recognised_from_the_header(name: str, platform: str) -> None:
    result = _read(name)
    assert result.platforms == {Path(name).name: platform}
    assert {r.source for r in result.rows} == {platform}


def test_headers_of_unknown_or_plain_layouts_are_not_guessed() -> None:
    assert detect_platform([header_key(h) for h in ["Date", "Merchant", "Amount"]]) is None
    assert detect_platform([header_key(h) for h in ["Ref", "When", "Who", "Shop", "Total"]]) is None


def test_expensify_reconciliation_export_keeps_every_row_and_id_exactly(matcher: Matcher) -> None:
    raw = (REAL / "expensify_reconciliation.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # the file really has BOM and CRLF
    rows = _read("expensify_reconciliation.csv", "expensify").rows
    assert len(rows) == 6
    first = rows[0]
    assert first.transaction_id == "8234567890123456789" and first.external_id == "EXP-0001"
    assert rows[2].transaction_id == "0034567890123456791"  # 19 digits, leading zeros kept
    assert first.descriptor == "OPENAI *CHATGPT SUBSCR" and first.merchant == "OpenAI"
    assert first.day == date(2026, 10, 2)  # the sales date, not the posted date
    assert first.employee == "Ana Lopez" and first.email == "ana@acme.example"
    assert first.gl_code == "6420" and first.mcc == "5734" and first.card == "Visa Corporate"
    assert first.memo == "ChatGPT Plus, monthly" and first.paid_by == PAID_CARD
    # The original (card) amount is the amount; the employee's edit is kept beside it.
    assert rows[3].amount == Decimal("40.00") and rows[3].modified_amount == Decimal("38.00")
    assert rows[3].descriptor == "CURSOR USAGE MID SEP" and rows[3].merchant == "Cursor"
    assert rows[3].transaction_id == "8234567890123456792" and rows[3].external_id == ""
    assert rows[1].kind == KIND_REFUND and rows[1].amount == Decimal("-20.00")
    assert rows[5].amount == Decimal("1204.33")  # quoted thousands
    classified = classify(rows, matcher)
    assert classified[1].refund_of is rows[0]
    assert [c.verdict.vendor for c in classified] == ["openai", "openai", None, "cursor", "elevenlabs", None]


def test_expensify_classic_default_csv(matcher: Matcher) -> None:
    rows = _read("expensify_classic.csv").rows
    assert [r.day for r in rows[:2]] == [date(2026, 10, 2), date(2026, 10, 3)]  # "Timestamp" with a time
    assert rows[0].paid_by == PAID_CARD and rows[1].paid_by == PAID_REIMBURSABLE
    assert rows[3].kind == KIND_REFUND and rows[3].amount == Decimal("-10.00")
    assert [c.verdict.vendor for c in classify(rows, matcher)][:3] == ["midjourney", "perplexity", None]


def test_ramp_card_export_mm_dd_yy_pending_external_id_and_refund(matcher: Matcher) -> None:
    rows = _read("ramp_card_transactions.csv", "ramp").rows
    assert len(rows) == 6
    assert rows[0].day == date(2026, 10, 1) and rows[0].employee == "Dana Reyes"
    assert rows[0].transaction_id == "0009876543210987654321" == rows[0].external_id
    assert rows[0].descriptor == "CURSOR, AI POWERED IDE CURSOR.COM NY" and rows[0].merchant == "Cursor"
    assert rows[0].category == "Software" and rows[0].department == "Engineering"
    assert [r.status for r in rows] == ["", "", "", "", "pending", "pending"]  # empty Clearing Date
    classified = classify(rows, matcher)
    # Billed twice then refunded once: two real charges and a refund against one of them.
    assert all(c.duplicate_of is None for c in classified)
    assert classified[3].refund_of is rows[2]
    assert sum(c.row.amount for c in classified if c.verdict.vendor == "anthropic" and c.counts) == Decimal("100.00")
    assert classified[5].verdict.is_ai is False  # Anthropologie


def test_amex_activity_reference_without_apostrophes_and_multiline_cells(matcher: Matcher) -> None:
    rows = _read("amex_activity.csv", "amex").rows
    assert len(rows) == 3
    assert rows[0].transaction_id == "320262750123456789"
    assert rows[0].descriptor == "OPENAI *CHATGPT SUBSCR" and rows[0].merchant == "OPENAI"
    assert rows[0].employee == "ANA LOPEZ" and rows[0].card == "-41004"
    assert rows[0].memo == "OPENAI *CHATGPT SUBSCR\nSAN FRANCISCO\nCA"
    assert rows[2].kind == KIND_REFUND and rows[2].amount == Decimal("-20.00")
    classified = classify(rows, matcher)
    assert classified[2].refund_of is rows[0]
    assert classified[1].verdict.is_ai is False  # THE CLAUDE HOTEL


def test_chase_purchases_are_negative_in_the_file_and_payments_are_not_spend(matcher: Matcher) -> None:
    rows = _read("chase_card.csv", "chase").rows
    assert [(r.kind, r.amount) for r in rows] == [
        (KIND_CHARGE, Decimal("30.00")),
        (KIND_REFUND, Decimal("-30.00")),
        (KIND_PAYMENT, Decimal("-500.00")),
        (KIND_CHARGE, Decimal("6.45")),
    ]
    classified = classify(rows, matcher)
    assert classified[1].refund_of is rows[0]
    assert classified[2].verdict.is_ai is False


def test_wrong_format_is_refused_naming_both_platforms() -> None:
    text = (REAL / "ramp_card_transactions.csv").read_text(encoding="utf-8")
    with pytest.raises(FormatMismatch, match=r"--format brex given, but the header is a ramp export"):
        parse_text(text, "ramp.csv", "brex")
    result = parse_files([REAL / "ramp_card_transactions.csv"], "brex")
    assert result.rows == [] and result.refused == ["ramp_card_transactions.csv"]
    assert "Pass --format ramp" in result.errors[0]
    # generic is an explicit "read by the names I give": never refused.
    assert parse_text(text, "ramp.csv", "generic").rows


def test_ingest_with_a_wrong_format_stores_nothing_even_from_the_good_file(engine: Engine) -> None:
    files = [REAL / "expensify_reconciliation.csv", REAL / "ramp_card_transactions.csv"]
    result = ingest_files(engine, files, "expensify", {}, _settings(), NOW)
    assert (result.inserted, result.updated) == (0, 0)
    assert any("is a ramp export" in e for e in result.errors)
    assert _stored(engine) == 0


def test_ingest_without_format_recognises_each_file_and_refuses_an_unknown_one(engine: Engine, tmp_path: Path) -> None:
    files = [REAL / "expensify_reconciliation.csv", REAL / "ramp_card_transactions.csv"]
    result = ingest_files(engine, files, None, {}, _settings(), NOW)
    assert result.errors == [] and result.inserted == 12
    with engine.connect() as conn:
        sources = set(conn.execute(select(ShadowExpense.source)).scalars())  # type: ignore[call-overload]
    assert sources == {"expensify", "ramp"}
    plain = tmp_path / "plain.csv"
    plain.write_text("Date,Merchant,Amount\n2026-10-01,OPENAI,20.00\n")
    refused = ingest_files(engine, [plain], None, {}, _settings(), NOW)
    assert refused.inserted == 0 and "cannot tell which platform" in refused.errors[0]
    assert _stored(engine) == 12


def test_cli_with_wrong_format_says_both_exits_nonzero_and_stores_nothing(database_url: str, engine: Engine) -> None:
    env = {"AISPEND_DATABASE_URL": database_url, "AISPEND_SHADOW_RATES_FILE": str(FIXTURES / "shadow" / "rates.csv")}
    path = REAL / "ramp_card_transactions.csv"
    result = CliRunner().invoke(app, ["shadow", "scan", str(path), "--format", "brex"], env=env)
    assert result.exit_code == 1
    assert "--format brex given, but the header is a ramp export" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["ingest", "expenses", str(path), "--format", "brex"], env=env)
    assert result.exit_code == 1 and "is a ramp export" in " ".join(result.output.split())
    assert "Traceback" not in result.output and _stored(engine) == 0
    result = CliRunner().invoke(app, ["ingest", "expenses", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert _stored(engine) == 6
