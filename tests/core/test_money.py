"""Amounts read from text: a comma is never guessed to be a decimal point."""

from decimal import Decimal

import pytest

from aispend.core.money import MoneyError, parse_decimal


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1500.00", Decimal("1500.00")),
        ("1,500.00", Decimal("1500.00")),
        ("1,500,000", Decimal("1500000")),
        ("-1,234.5", Decimal("-1234.5")),
        (".5", Decimal("0.5")),
        ("2.5E-3", Decimal("0.0025")),
    ],
)
def test_plain_and_grouped_amounts_are_read_exactly(text: str, value: Decimal) -> None:
    assert parse_decimal(text) == value


@pytest.mark.parametrize("text", ["0,25", "1,50", "1,500", "12,5", "1,5,0", "1,50.0"])
def test_a_comma_that_could_be_a_decimal_comma_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(MoneyError, match="ambiguous: a comma may be a decimal or a thousands separator"):
        parse_decimal(text, what="cost")


@pytest.mark.parametrize("text", ["12,5x", "1e30x", "$5", "", "NaN", "Infinity", "1 000"])
def test_what_is_not_a_number_says_so(text: str) -> None:
    with pytest.raises(MoneyError, match=r"not a (finite )?number"):
        parse_decimal(text)
