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
    a 64-bit count of 10^-12 on SQLite (about 9.2 million), NUMERIC(38, 12) elsewhere (10^26).
    Checked when a row is read, so that one such value is a row error instead of a failed batch."""
    if dialect_name == "sqlite":
        return Decimal(BIGINT_MAX).scaleb(-LEDGER_SCALE)
    return Decimal(10) ** (38 - LEDGER_SCALE)


def ledger_units(amount: Decimal) -> int:
    """An amount as SQLite stores it (see MoneyAmount): a whole count of 10^-12 units, rounded to
    12 decimals. Called once per imported call, so the exact case skips the rounding."""
    units = amount.scaleb(LEDGER_SCALE)
    whole = int(units)
    if whole == units:  # at most 12 decimals: exact already
        return whole
    return int(to_ledger(amount).scaleb(LEDGER_SCALE))


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
