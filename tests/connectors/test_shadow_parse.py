"""Expense/card export parsers on realistic files in each platform's layout."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from aispend.connectors.expenses.parse import (
    ExportError,
    parse_files,
    parse_text,
)
from aispend.core.rates import RateError, load_rates
from aispend.core.shadow.catalog import load_catalog
from aispend.core.shadow.classify import classify
from aispend.core.shadow.expense import KIND_CHARGE, KIND_FX_FEE, KIND_REFUND, PAID_CARD, PAID_REIMBURSABLE
from aispend.core.shadow.matcher import Matcher
from aispend.core.shadow.store import convert
from tests.conftest import FIXTURES

SHADOW_FIXTURES = FIXTURES / "shadow"
GENERIC_MAP = {
    "When": "date",
    "Who": "email",
    "Team": "department",
    "Shop": "descriptor",
    "Total": "amount",
    "Cur": "currency",
    "Why": "memo",
    "Ref": "transaction_id",
}


def _parse(name: str, fmt: str | None = None, mapping: dict[str, str] | None = None):
    result = parse_files([SHADOW_FIXTURES / f"{name}.csv"], fmt or name, mapping)
    assert result.errors == []
    return result.rows


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_catalog())


def test_fixtures_really_have_bom_and_crlf() -> None:
    assert (SHADOW_FIXTURES / "expensify.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in (SHADOW_FIXTURES / "ramp.csv").read_bytes()
    assert b"\r\n" not in (SHADOW_FIXTURES / "brex.csv").read_bytes()


def test_expensify_reads_by_header_with_bom_crlf_us_dates_and_thousands(matcher: Matcher) -> None:
    rows = _parse("expensify")
    assert len(rows) == 9
    first = rows[0]
    assert first.row == 1 and first.transaction_id == "000981"  # ids stay text: leading zeros kept
    assert first.day == date(2026, 10, 2)
    assert first.descriptor == "OPENAI *CHATGPT SUBSCR HTTPSOPENAI.C CA"  # raw bank text over the edited name
    assert first.merchant == "ChatGPT"  # ...and the edited name is kept too
    assert first.email == "ana@acme.example" and first.report_id == "R00412" and first.card == "Visa 4821"
    assert first.paid_by == PAID_CARD and first.mcc == "5734"
    assert rows[1].paid_by == PAID_REIMBURSABLE and rows[1].descriptor == "ChatGPT Plus receipt"
    assert rows[2].amount == Decimal("1204.33") and rows[2].memo == "Dinner, offsite (12 people)"
    assert {r.currency for r in rows} == {"USD", "EUR", "GBP"}
    assert rows[7].kind == KIND_REFUND and rows[7].amount == Decimal("-20.00")
    assert rows[8].kind == KIND_FX_FEE

    classified = classify(rows, matcher)
    assert classified[1].duplicate_of is rows[0]  # the receipt-created cash expense of the card charge
    assert classified[5].duplicate_of is rows[4]  # the same transaction id twice
    assert "000984" in classified[5].duplicate_reason
    assert classified[7].refund_of is rows[0]
    assert not classified[2].verdict.is_ai  # SQ *CLAUDE'S BISTRO
    assert not classified[6].verdict.is_ai  # OpenTable
    assert not classified[8].verdict.is_ai  # the fee line is kept apart, not AI spend


def test_ramp_reordered_renamed_columns_and_billed_twice_then_refunded(matcher: Matcher) -> None:
    rows = _parse("ramp")
    assert [r.transaction_id for r in rows][:2] == ["6f1c0a52-0001", "6f1c0a52-0002"]
    assert rows[0].employee == "Dana Reyes"  # "Cardholder"
    assert rows[0].department == "Engineering" and rows[0].gl_code == "6420" and rows[0].memo == "Cursor Pro"
    assert rows[0].descriptor == "CURSOR, AI POWERED IDE CURSOR.COM NY" and rows[0].merchant == "Cursor"
    assert rows[0].day == date(2026, 10, 1)
    classified = classify(rows, matcher)
    # Two real charges and a refund: no data duplicate; the refund nets against one charge.
    assert all(c.duplicate_of is None for c in classified)
    assert classified[2].refund_of is rows[1]
    assert [c.verdict.vendor for c in classified[3:5]] == [
        "github-copilot",
        None,
    ]  # 19.00 vs 44.00 (Team seats)
    assert classified[5].verdict.is_ai is False  # Anthropologie


def test_brex_amounts_in_cents_and_description_is_the_descriptor(matcher: Matcher) -> None:
    rows = _parse("brex")
    assert rows[0].amount == Decimal("100.00") and rows[0].transaction_id == "tx_01HF0001"
    assert rows[2].amount == Decimal("1204.33")
    assert rows[3].amount == Decimal("14.99") and rows[3].currency == "EUR"
    assert rows[4].kind == KIND_REFUND and rows[4].amount == Decimal("-100.00")
    assert rows[0].day == date(2026, 10, 3) and rows[0].card == "0042"
    classified = classify(rows, matcher)
    assert classified[1].verdict.vendor == "aws-bedrock" and "BEDROCK" in classified[1].verdict.reason
    assert classified[2].verdict.is_ai is False  # AWS for EC2 is not AI
    assert classified[4].refund_of is rows[0]


def test_concur_quoted_multiline_fields_and_cash_claim_of_a_card_charge(matcher: Matcher) -> None:
    rows = _parse("concur")
    assert len(rows) == 7
    assert rows[0].employee == "Ito, Gus" and rows[0].department == "Research" and rows[0].report_id == "88123"
    assert rows[1].memo == "Team wiki\n(Plus plan)"
    assert rows[0].day == date(2026, 10, 5) and rows[0].transaction_id == "90001"
    assert rows[2].paid_by == PAID_CARD and rows[3].paid_by == PAID_REIMBURSABLE
    assert rows[3].descriptor == "Otter.ai"  # no card text on a cash line: the vendor name stands in
    classified = classify(rows, matcher)
    assert classified[0].verdict.vendor == "notion-ai" and classified[1].verdict.is_ai is False
    assert classified[3].duplicate_of is rows[2]
    assert classified[4].verdict.is_ai is False  # CLAUDE'S CAFE


def test_navan_refund_type_with_positive_amount(matcher: Matcher) -> None:
    rows = _parse("navan")
    assert rows[3].kind == KIND_REFUND and rows[3].amount == Decimal("-49.00")
    assert rows[0].kind == KIND_CHARGE and rows[0].email == "ivy@acme.example"
    assert rows[0].descriptor == "JASPER.AI" and rows[0].memo == "blog drafts"
    classified = classify(rows, matcher)
    assert classified[3].refund_of is rows[0]
    assert classified[2].verdict.is_ai is False  # JASPER'S SPORTS BAR
    assert classified[4].verdict.vendor == "heygen"


def test_generic_with_map(matcher: Matcher) -> None:
    rows = _parse("generic", "generic", GENERIC_MAP)
    assert [r.transaction_id for r in rows] == ["0007", "0008", "0009", "0010"]
    assert rows[0].department == "Design" and rows[0].amount == Decimal("30.00")
    assert [c.verdict.vendor for c in classify(rows, matcher)] == ["midjourney", "ideogram", None, "krea"]


def test_auto_format_recognises_platform_columns() -> None:
    rows = parse_files([SHADOW_FIXTURES / "concur.csv"], None).rows
    assert rows[0].descriptor == "NOTION LABS INC" and rows[0].amount == Decimal("10.00")


def test_three_currencies_convert_with_date_effective_rates() -> None:
    rates = load_rates(SHADOW_FIXTURES / "rates.csv", "USD")
    rows, errors = convert(_parse("ramp"), rates)
    assert errors == []
    by_id = {r.transaction_id: r for r in rows}
    assert by_id["6f1c0a52-0007"].company_amount == Decimal("22.00") * Decimal("1.1000")  # EUR from 2026-10-01
    assert by_id["6f1c0a52-0008"].company_amount == Decimal("18.00") * Decimal("1.3000")  # GBP from 2026-10-08
    assert by_id["6f1c0a52-0001"].company_amount == Decimal("20.00")


def test_missing_rate_is_an_error_naming_currency_and_date_and_good_rows_are_kept() -> None:
    rates = load_rates(SHADOW_FIXTURES / "rates.csv", "USD")
    text = (
        "Date,Merchant,Amount,Currency\n2026-10-02,OPENAI,20.00,USD\n2026-10-03,DEEPL,9.00,CHF\n"
        "2026-08-15,MISTRAL AI,14.99,EUR\n"
    )
    rows, errors = convert(parse_text(text, "x.csv", "generic").rows, rates)
    assert [r.descriptor for r in rows] == ["OPENAI"]
    assert errors[0].startswith("x.csv: row 2: no CHF -> USD rate for 2026-10-03")
    assert "x.csv: row 3" in errors[1] and "EUR" in errors[1] and "2026-08-15" in errors[1]
    assert "first EUR rate" in errors[1] and "2026-09-01" in errors[1]
    with pytest.raises(RateError, match="no rates file is configured"):
        load_rates(None, "USD").rate("EUR", date(2026, 10, 1))


def test_bad_rows_are_reported_with_row_and_column_and_the_rest_kept() -> None:
    text = (
        "Transaction ID,Date,Merchant,Amount\r\n"
        "1,10/02/26,OPENAI,20.00\r\n"
        "2,yesterday,OPENAI,20.00\r\n"
        "3,10/03/26,OPENAI,twenty\r\n"
        '4,10/04/26,OPENAI,"$1,020.50"\r\n'
    )
    result = parse_text(text, "bad.csv", "generic")
    assert [r.transaction_id for r in result.rows] == ["1", "4"]
    assert result.rows[1].amount == Decimal("1020.50")
    assert result.errors == [
        "bad.csv: row 2: column 'Date': 'yesterday' is not a date (expected YYYY-MM-DD or MM/DD/YY)",
        "bad.csv: row 3: column 'Amount': 'twenty' is not an amount",
    ]


def test_a_file_without_an_amount_column_says_which_and_how_to_fix() -> None:
    with pytest.raises(ExportError, match=r"no column for an amount .*--map COLUMN=FIELD"):
        parse_text("Date,Merchant,Total spend\n2026-10-01,OPENAI,1\n", "f.csv", "ramp")


def test_accounting_negatives_and_european_decimals() -> None:
    text = 'Date,Merchant,Amount,Currency\n2026-10-01,OPENAI,(20.00),USD\n2026-10-01,DEEPL,"1.234,56",EUR\n'
    rows = parse_text(text, "f.csv", "generic").rows
    assert rows[0].amount == Decimal("-20.00") and rows[0].kind == KIND_REFUND
    assert rows[1].amount == Decimal("1234.56")


def test_natural_keys_are_stable_and_distinct_for_identical_rows_without_ids() -> None:
    text = "Date,Merchant,Amount\n2026-10-01,OPENAI,20.00\n2026-10-01,OPENAI,20.00\n"
    first = parse_text(text, "a.csv", "generic").rows
    again = parse_text(text, "renamed.csv", "generic").rows
    assert first[0].natural_key != first[1].natural_key
    assert [r.natural_key for r in first] == [r.natural_key for r in again]


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("1e30", "'1e30' is not an amount"),  # letters are refused, not stripped into 130
        ("12abc", "'12abc' is not an amount"),
        ("12,50", "'12,50': amount '12,50' is ambiguous"),  # no dot grouping: could be either
        ("1,500", "is ambiguous"),
        ("1" + "0" * 27, "beyond what the ledger can store"),
    ],
)
def test_an_amount_is_refused_rather_than_guessed(amount: str, reason: str) -> None:
    text = f'Date,Merchant,Amount\n2026-10-01,OPENAI,20.00\n2026-10-02,BAD,"{amount}"\n2026-10-03,DEEPL,5.00\n'
    result = parse_text(text, "f.csv", "generic")
    assert [row.amount for row in result.rows] == [Decimal("20.00"), Decimal("5.00")]
    assert len(result.errors) == 1 and result.errors[0].startswith("f.csv: row 2: "), result.errors
    assert reason in result.errors[0], result.errors


@pytest.mark.parametrize(
    ("amount", "value"),
    [
        ("1.234,56", "1234.56"),
        ("€1.234,56", "1234.56"),
        ("$1,234.56", "1234.56"),
        ("USD 12.00", "12.00"),
        ("12.00 EUR", "12.00"),
        ("CA$5.00", "5.00"),
        ("1,500.00", "1500.00"),
        ("1500.00", "1500.00"),
    ],
)
def test_amounts_with_signs_codes_and_unambiguous_separators_are_read(amount: str, value: str) -> None:
    rows = parse_text(f'Date,Merchant,Amount\n2026-10-01,OPENAI,"{amount}"\n', "f.csv", "generic").rows
    assert rows[0].amount == Decimal(value)


def test_a_row_with_a_nul_or_bytes_of_no_encoding_is_refused_and_the_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(
        b"Date,Merchant,Amount,Memo\n2026-10-01,A,1.00,m\n2026-10-02,B,2.00,\x81\xff\n"
        b"2026-10-03,C,3.00,a\x00b\n2026-10-04,D,4.00," + b"x" * 200_000 + b"\n"
    )
    result = parse_files([path], "generic")
    assert [row.merchant for row in result.rows] == ["A", "D"]
    assert [error.split(": ")[1] for error in result.errors] == ["row 2", "row 3"], result.errors
