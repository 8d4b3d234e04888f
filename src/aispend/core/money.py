"""Money is Decimal plus an ISO currency code, end to end. Never a float."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

from aispend.core.errors import AispendError

# Ledger amounts are stored with 12 decimal places: enough for FOCUS exports (11 places)
# and for per-token prices (a cached token can cost 3.75e-8 USD).
LEDGER_SCALE = 12
LEDGER_QUANTUM = Decimal(1).scaleb(-LEDGER_SCALE)
ZERO = Decimal(0)
# The money columns hold 38 digits (NUMERIC(38, 12)); the default context has 28 and would round
# (or refuse) an amount of 17 integer digits or more when quantizing it to 12 places.
_LEDGER_CONTEXT = Context(prec=38, rounding=ROUND_HALF_EVEN)

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "INR": "₹"}


class MoneyError(AispendError, ValueError):
    """An amount or currency that cannot be used as money."""

    code = "invalid_money"


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise MoneyError(f"amount must be Decimal, got {type(self.amount).__name__}")
        if not is_currency_code(self.currency):
            raise MoneyError(f"not an ISO 4217 currency code: {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise MoneyError(f"cannot add {other.currency} to {self.currency} without a conversion rate")
        return Money(self.amount + other.amount, self.currency)

    def as_json(self) -> dict[str, str]:
        return money_json(self.amount, self.currency)


def is_currency_code(code: str) -> bool:
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


def normalize_currency(code: str | None, default: str = "USD") -> str:
    """Upper-case an ISO code ("usd" -> "USD"); empty means the default."""
    if code is None or not code.strip():
        return default
    value = code.strip().upper()
    if not is_currency_code(value):
        raise MoneyError(f"not an ISO 4217 currency code: {code!r}")
    return value


# A comma is read only as a thousands separator, and only where it cannot be a decimal comma:
# "1,500.00" and "1,500,000" are fine; "0,25", "1,50" and a lone "1,500" are refused, never guessed.
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _ungroup(cleaned: str, original: str, what: str) -> str:
    if "," not in cleaned or not _NUMBER.fullmatch(cleaned.replace(",", "")):
        return cleaned  # no comma, or not a number anyway: the caller says "not a number"
    if _GROUPED.fullmatch(cleaned) and ("." in cleaned or cleaned.count(",") > 1):
        return cleaned.replace(",", "")
    raise MoneyError(
        f"{what} {original!r} is ambiguous: a comma may be a decimal or a thousands separator; "
        "write it with a decimal point (1.50) and no grouping, or as 1,500.00"
    )


def parse_decimal(text: str | int | Decimal, *, what: str = "amount") -> Decimal:
    """Parse an amount from text without ever going through float (or guessing a decimal comma)."""
    if isinstance(text, Decimal):
        value = text
    elif isinstance(text, int) and not isinstance(text, bool):
        value = Decimal(text)
    elif isinstance(text, str):
        cleaned = _ungroup(text.strip(), text, what)
        if not _NUMBER.fullmatch(cleaned):
            raise MoneyError(f"{what} is not a number: {text!r}")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            raise MoneyError(f"{what} is not a number: {text!r}") from None
    else:
        raise MoneyError(f"{what} must be text or Decimal, got {type(text).__name__}")
    if not value.is_finite():
        raise MoneyError(f"{what} is not a finite number: {text!r}")
    return value


def to_ledger(amount: Decimal) -> Decimal:
    """Round to the ledger's 12 decimal places (banker's rounding)."""
    return amount.quantize(LEDGER_QUANTUM, rounding=ROUND_HALF_EVEN, context=_LEDGER_CONTEXT)


def decimal_str(amount: Decimal) -> str:
    """Canonical decimal string for JSON: no exponent, no trailing zeros past the point."""
    if amount == 0:
        return "0"
    return format(amount.normalize(context=_LEDGER_CONTEXT), "f")


def money_json(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": decimal_str(amount), "currency": currency}


def format_money(amount: Decimal, currency: str) -> str:
    """Human display: cents for normal amounts, more places for sub-cent ones ("$0.0042")."""
    symbol = _SYMBOLS.get(currency)
    sign = "-" if amount < 0 else ""
    magnitude = abs(amount)
    if magnitude != 0 and magnitude < Decimal("0.01"):
        shown = format(magnitude.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN), "f")
    else:
        shown = f"{magnitude.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,.2f}"
    if symbol:
        return f"{sign}{symbol}{shown}"
    return f"{sign}{shown} {currency}"


def percent(part: Decimal, whole: Decimal, places: int = 1) -> Decimal | None:
    """part / whole as a percentage, None when whole is zero."""
    if whole == 0:
        return None
    return (part * 100 / whole).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
