"""Shadow-AI tables: expense and card lines as imported (classification happens at report time, so a
catalog update re-classifies history without a re-import)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from aispend.core.ledger.types import MoneyAmount


class ShadowExpense(SQLModel, table=True):
    """One line of an expense or card export. Unique per (source, natural_key): re-imports change nothing."""

    __tablename__ = "shadow_expense"
    __table_args__ = (
        UniqueConstraint("source", "natural_key", name="uq_shadow_expense_source_key"),
        Index("ix_shadow_expense_day", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)  # export format: expensify, ramp, brex, concur, navan, generic
    natural_key: str = Field(max_length=128)  # transaction id, or a content hash when the export has none
    transaction_id: str = Field(default="", max_length=128)
    day: date
    amount: Decimal = Field(sa_type=MoneyAmount)  # signed: refunds negative
    currency: str = Field(max_length=3)
    company_amount: Decimal = Field(sa_type=MoneyAmount)
    company_currency: str = Field(max_length=3)
    descriptor: str = Field(default="", max_length=256)
    merchant: str = Field(default="", max_length=256)
    employee: str = Field(default="", max_length=256)
    email: str = Field(default="", max_length=256)
    department: str = Field(default="", max_length=128)
    category: str = Field(default="", max_length=256)
    gl_code: str = Field(default="", max_length=64)
    memo: str = Field(default="", max_length=1024)
    report_id: str = Field(default="", max_length=128)
    card: str = Field(default="", max_length=128)
    paid_by: str = Field(default="", max_length=16)
    kind: str = Field(default="charge", max_length=16)
    mcc: str = Field(default="", max_length=8)
    file: str = Field(default="", max_length=256)  # provenance of the first import
    file_row: int = Field(default=0)
    ingested_at: datetime
