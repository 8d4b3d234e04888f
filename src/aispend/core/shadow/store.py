"""Write parsed expense rows to the ledger (upsert by (source, natural_key)) and read them back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from aispend.core.ledger.bulk import stored_by_key
from aispend.core.money import to_ledger
from aispend.core.rates import RateError, RateTable
from aispend.core.shadow.expense import WIDEST_AMOUNT, ExpenseRow
from aispend.core.shadow.models import ShadowExpense

_TABLE = ShadowExpense.__table__  # type: ignore[attr-defined]
_BATCH = 500
_CENT = Decimal("0.01")
# What decides "changed" on a re-import (provenance columns and ingested_at are not content).
_CONTENT = (
    "transaction_id",
    "day",
    "amount",
    "currency",
    "company_amount",
    "company_currency",
    "descriptor",
    "merchant",
    "employee",
    "email",
    "department",
    "category",
    "gl_code",
    "memo",
    "report_id",
    "card",
    "paid_by",
    "kind",
    "mcc",
)


@dataclass
class IngestResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)


def convert(
    rows: Iterable[ExpenseRow], rates: RateTable, limit: Decimal = WIDEST_AMOUNT
) -> tuple[list[ExpenseRow], list[str]]:
    """Rows with company_amount set; a row without a rate is an error (file, row, currency, date), and
    so is one whose converted amount the ledger cannot store (`limit`, see ledger.types.money_limit)."""
    converted, errors = [], []
    for row in rows:
        try:
            amount = rates.convert(row.amount, row.currency, row.day)
        except RateError as exc:
            errors.append(f"{row.file}: row {row.row}: {exc}")
            continue
        if abs(amount) >= limit:
            errors.append(
                f"{row.file}: row {row.row}: {row.amount} {row.currency} is {amount} in the company currency, "
                f"beyond what the ledger can store (below {limit:,.0f})"
            )
            continue
        converted.append(replace(row, company_amount=amount))
    return converted, errors


def _values(row: ExpenseRow, company_currency: str, now: datetime) -> dict[str, Any]:
    assert row.company_amount is not None, "convert() before storing"
    return {
        "source": row.source,
        "natural_key": row.natural_key,
        "transaction_id": row.transaction_id[:128],
        "day": row.day,
        "amount": to_ledger(row.amount),
        "currency": row.currency,
        "company_amount": to_ledger(row.company_amount),
        "company_currency": company_currency,
        "descriptor": row.descriptor[:256],
        "merchant": row.merchant[:256],
        "employee": row.employee[:256],
        "email": row.email[:256],
        "department": row.department[:128],
        "category": row.category[:256],
        "gl_code": row.gl_code[:64],
        "memo": row.memo[:1024],
        "report_id": row.report_id[:128],
        "card": row.card[:128],
        "paid_by": row.paid_by,
        "kind": row.kind,
        "mcc": row.mcc[:8],
        "file": row.file[:256],
        "file_row": row.row,
        "ingested_at": now,
    }


def store(engine: Engine, rows: Sequence[ExpenseRow], *, company_currency: str, now: datetime) -> IngestResult:
    """Insert new lines, update changed ones, leave the rest: importing a file twice changes nothing."""
    result = IngestResult()
    with engine.begin() as conn:
        for start in range(0, len(rows), _BATCH):
            batch = [_values(r, company_currency, now) for r in rows[start : start + _BATCH]]
            keys = [(v["source"], v["natural_key"]) for v in batch]
            existing = stored_by_key(conn, _TABLE, keys=keys)
            fresh: dict[tuple[str, str], dict[str, Any]] = {}
            for values in batch:
                key = (values["source"], values["natural_key"])
                old = existing.get(key)
                if old is None:
                    fresh[key] = values  # a key repeated within one batch keeps its last version
                elif any(getattr(old, c) != values[c] for c in _CONTENT):
                    conn.execute(
                        _TABLE.update()
                        .where(_TABLE.c.id == old.id)
                        .values({c: values[c] for c in _CONTENT} | {"ingested_at": now})
                    )
                    result.updated += 1
                else:
                    result.unchanged += 1
            if fresh:
                conn.execute(_TABLE.insert(), list(fresh.values()))
                result.inserted += len(fresh)
    return result


def load_rows(engine: Engine, *, first_day: date, end_day: date) -> list[ExpenseRow]:
    """Stored lines with first_day <= day < end_day, in a stable order, as ExpenseRow."""
    with engine.connect() as conn:
        found = conn.execute(
            select(_TABLE).where(_TABLE.c.day >= first_day, _TABLE.c.day < end_day).order_by(_TABLE.c.day, _TABLE.c.id)
        ).all()
    return [
        ExpenseRow(
            file=r.file,
            row=r.file_row,
            source=r.source,
            natural_key=r.natural_key,
            transaction_id=r.transaction_id,
            day=r.day,
            amount=_trim(r.amount),
            currency=r.currency,
            descriptor=r.descriptor,
            merchant=r.merchant,
            employee=r.employee,
            email=r.email,
            department=r.department,
            category=r.category,
            gl_code=r.gl_code,
            memo=r.memo,
            report_id=r.report_id,
            card=r.card,
            paid_by=r.paid_by,
            kind=r.kind,
            mcc=r.mcc,
            company_amount=_trim(r.company_amount),
        )
        for r in found
    ]


def _trim(amount: Decimal) -> Decimal:
    """The ledger's 12 places back to cents when nothing is lost (100.000000000000 -> 100.00)."""
    cents = amount.quantize(_CENT)
    return cents if cents == amount else amount.normalize()
