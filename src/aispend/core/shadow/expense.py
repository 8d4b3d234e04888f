"""One expense or card charge as aispend reads it, whatever export it came from (connectors/expenses
reads the files into these; the shadow-AI rules work on them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from aispend.core.ledger.types import money_limit

KIND_CHARGE = "charge"
KIND_REFUND = "refund"
KIND_FX_FEE = "fx_fee"
KIND_PAYMENT = "payment"  # a payment of the card bill itself (Chase "Payment"): neither spend nor refund

PAID_CARD = "card"
PAID_REIMBURSABLE = "reimbursable"

# The widest amount the ledger stores (PostgreSQL); the store passes its own database's limit.
WIDEST_AMOUNT = money_limit("postgresql")


@dataclass(slots=True)  # not frozen: frozen dataclasses cost ~2x to build, and a scan builds 100k of them
class ExpenseRow:
    file: str
    row: int  # 1-based data row (the header is not counted)
    source: str  # export format
    natural_key: str
    transaction_id: str
    day: date
    amount: Decimal  # signed: refunds are negative
    currency: str
    descriptor: str  # raw card text when the export has it, else the merchant name
    merchant: str  # the (possibly user-edited) merchant name
    employee: str = ""
    email: str = ""
    department: str = ""
    category: str = ""
    gl_code: str = ""
    memo: str = ""
    report_id: str = ""
    card: str = ""
    paid_by: str = ""  # "card" | "reimbursable" | ""
    kind: str = KIND_CHARGE
    mcc: str = ""
    company_amount: Decimal | None = None  # in the company currency, once converted
    external_id: str = ""  # the platform's second id (Expensify/Ramp "External ID"), as text
    modified_amount: Decimal | None = None  # the employee's edited amount, kept beside the original
    status: str = ""  # "pending" when the export has a clearing/posted date column and it is empty

    @property
    def person(self) -> str:
        return self.email or self.employee

    @property
    def ref(self) -> str:
        return f"{self.file}:{self.row}"
