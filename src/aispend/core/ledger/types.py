"""Column types that keep money exact on both SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

from aispend.core.money import LEDGER_SCALE, to_ledger

# The largest whole number a BIGINT (PostgreSQL) or an INTEGER (SQLite) column holds.
BIGINT_MAX = 2**63 - 1


def money_limit(dialect_name: str) -> Decimal:
    """What an amount must stay below (in magnitude) for MoneyAmount to store it on this database:
    a signed 64-bit count of 10^-12 on SQLite (2^63 units, about 9.2 million), NUMERIC(38, 12) elsewhere (10^26).
    Checked when a row is read, so that one such value is a row error instead of a failed batch."""
    if dialect_name == "sqlite":
        return Decimal(BIGINT_MAX + 1).scaleb(-LEDGER_SCALE)
    return Decimal(10) ** (38 - LEDGER_SCALE)


def ledger_units(amount: Decimal) -> int:
    """An amount as SQLite stores it (see MoneyAmount): a whole count of 10^-12 units, rounded to
    12 decimals. Called once per imported call, so the exact case skips the rounding."""
    units = amount.scaleb(LEDGER_SCALE)
    whole = int(units)
    if whole == units:  # at most 12 decimals: exact already
        return whole
    return int(to_ledger(amount).scaleb(LEDGER_SCALE))


def decimal_places(amount: Decimal) -> int:
    """Places after the point once trailing zeros are dropped (exact, whatever the context)."""
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int), "a finite amount"
    while exponent < 0 and digits and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    return max(0, -exponent)


def unstorable(amount: Decimal, dialect: str) -> str | None:
    """Why a money column on this database cannot hold `amount` exactly (None when it can): more
    than 12 decimal places would be rounded away, more than the column's maximum would overflow."""
    if not amount.is_finite():
        return "is not a finite number"
    limit = money_limit(dialect)
    if amount.copy_abs() >= limit:  # copy_abs: exact (abs() rounds to the context's 28 digits)
        largest = limit - Decimal(1).scaleb(-LEDGER_SCALE)
        shown = f"{largest:f}" + (" on SQLite" if dialect == "sqlite" else "")
        return f"is above the largest amount the ledger can store ({shown})"
    if decimal_places(amount) > LEDGER_SCALE:
        return f"has more than {LEDGER_SCALE} decimal places (amounts are stored to {LEDGER_SCALE})"
    return None


class MoneyAmount(TypeDecorator[Decimal]):
    """A Decimal amount with 12 decimal places.

    PostgreSQL stores NUMERIC(38, 12). SQLite has no exact decimal type (it would turn
    NUMERIC text into a float), so there the amount is stored as an integer count of
    10^-12 units: SUM() stays exact integer arithmetic inside SQLite. The limit of that
    representation is 9.2 million per stored value or per SUM(); PostgreSQL has none.
    """

    impl = Numeric(38, LEDGER_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(38, LEDGER_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be Decimal, never float")
        if dialect.name == "sqlite":
            return ledger_units(Decimal(value))
        return to_ledger(Decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            if isinstance(value, float):
                raise TypeError("SQLite returned a float for a money column: integer overflow or mixed types")
            return Decimal(int(value)).scaleb(-LEDGER_SCALE)
        return Decimal(value)
