"""Column layouts of each expense platform's export: canonical field -> header aliases, in preference order.

Admins rename, hide and reorder columns, so columns are found by (normalised) header name, never by
position. A header is normalised to lower-case letters and digits ("Amount (USD)" -> "amountusd").
"""

from __future__ import annotations

import re

FIELDS = (
    "transaction_id",
    "date",
    "posted_date",
    "amount",
    "amount_cents",
    "currency",
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
    "reimbursable",
    "payment_type",
    "transaction_type",
    "mcc",
    "original_amount",
    "original_currency",
)

# Shared by every format. Per-format tables below take precedence and may claim an alias for another field.
COMMON: dict[str, tuple[str, ...]] = {
    "transaction_id": (
        "transactionid",
        "transactionuuid",
        "cardtransactionid",
        "txnid",
        "expenseid",
        "entryid",
        "id",
    ),
    "date": (
        "transactiondate",
        "date",
        "purchasedate",
        "expensedate",
        "authorizeddate",
        "authorizationdate",
        "timestamp",
        "userdate",
    ),
    "posted_date": ("posteddate", "postingdate", "settlementdate", "postedat", "clearingdate"),
    "amount": (
        "amount",
        "transactionamount",
        "totalamount",
        "expenseamount",
        "approvedamount",
        "amountusd",
        "billedamount",
        "postedamount",
    ),
    "amount_cents": ("amountcents", "amountincents", "amountminor", "amountminorunits"),
    "currency": ("currency", "currencycode", "transactioncurrency", "billedcurrency", "postedcurrency"),
    "descriptor": (
        "originalmerchant",
        "originalmerchantname",
        "merchantdescriptor",
        "rawdescriptor",
        "rawmerchant",
        "merchantdescription",
        "bankdescription",
        "carddescription",
        "statementdescriptor",
        "vendordescription",
        "merchantrawname",
    ),
    "merchant": ("merchant", "merchantname", "vendor", "vendorname", "payee"),
    "employee": (
        "employee",
        "employeename",
        "user",
        "username",
        "cardholder",
        "cardholdername",
        "submitter",
        "submittedby",
        "reportowner",
        "owner",
        "employeefullname",
        "spender",
    ),
    "email": (
        "email",
        "employeeemail",
        "useremail",
        "submitteremail",
        "reportowneremail",
        "emailaddress",
        "cardholderemail",
    ),
    "department": ("department", "costcenter", "costcentre", "team", "departmentname", "division"),
    "category": ("category", "expensetype", "expensecategory", "accountingcategory", "spendcategory"),
    "gl_code": ("glcode", "glaccount", "glaccountcode", "accountcode", "ledgeraccount", "account"),
    "memo": (
        "memo",
        "comment",
        "comments",
        "description",
        "businesspurpose",
        "purpose",
        "notes",
        "note",
        "justification",
    ),
    "report_id": ("reportid", "reportnumber", "reportkey", "expensereportid"),
    "card": ("card", "cardname", "cardlast4", "cardlastfour", "lastfour", "cardnumber", "cardnickname"),
    "reimbursable": ("reimbursable", "isreimbursable", "outofpocket"),
    "payment_type": ("paymenttype", "paymentmethod", "fundingsource", "paidwith"),
    "transaction_type": ("transactiontype", "type", "entrytype"),
    "mcc": ("mcc", "merchantcategorycode"),
    "original_amount": ("originalamount", "foreignamount"),
    "original_currency": ("originalcurrency", "foreigncurrency"),
}

PLATFORM: dict[str, dict[str, tuple[str, ...]]] = {
    # Expensify: "Merchant" is what the employee typed; card feeds add the bank's text.
    "expensify": {
        "date": ("timestamp", "date"),
        "report_id": ("reportid", "expensereportid", "reportnumber"),
        "memo": ("comment", "description"),
        "amount_cents": ("amountcents", "expenseamountcents"),
    },
    # Ramp: "Merchant Name" is cleaned by Ramp; the raw card text is the descriptor.
    "ramp": {
        "descriptor": ("merchantdescriptor", "originalmerchantname", "statementdescriptor"),
        "merchant": ("merchantname", "merchant"),
        "employee": ("user", "cardholder", "employee"),
        "gl_code": ("glaccount", "accountingglaccount", "glcode"),
    },
    # Brex: "Description" is the card descriptor; API-style exports give amounts in cents.
    "brex": {
        "descriptor": ("description", "merchantdescriptor", "rawdescriptor"),
        "merchant": ("merchant", "merchantname"),
        "memo": ("memo", "notes"),
        "amount_cents": ("amountcents", "amountminor"),
        "date": ("transactiondate", "date", "postedat"),
    },
    # SAP Concur: "Vendor Description" is the card text, "Vendor" the cleaned name.
    "concur": {
        "descriptor": ("vendordescription", "merchantdescription"),
        "merchant": ("vendor", "vendorname", "merchant"),
        "amount": ("transactionamount", "approvedamount", "expenseamount", "amount"),
        "currency": ("transactioncurrency", "currency", "currencycode"),
        "report_id": ("reportkey", "reportid"),
        "employee": ("employee", "employeename"),
        "memo": ("businesspurpose", "comment", "description"),
        "transaction_id": ("entrykey", "transactionid", "expenseid"),
    },
    # Navan (formerly TripActions).
    "navan": {
        "descriptor": ("statementdescriptor", "merchantdescriptor"),
        "merchant": ("merchant", "merchantname"),
        "email": ("useremail", "employeeemail", "email"),
        "transaction_id": ("transactionid", "expenseid"),
    },
    "generic": {},
}

FORMATS = tuple(PLATFORM)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def header_key(header: str) -> str:
    return _NON_ALNUM.sub("", header.lower().lstrip("\ufeff"))


def aliases(fmt: str | None) -> dict[str, tuple[str, ...]]:
    """The alias table of one format (None: every platform's aliases, for scanning an unknown export)."""
    if fmt is None:
        table: dict[str, tuple[str, ...]] = {}
        for name in ("generic", "expensify", "ramp", "concur", "navan"):  # Brex's "description" stays a memo
            for field, names in _merged(name).items():
                table[field] = tuple(dict.fromkeys(table.get(field, ()) + names))
        return _dedupe_claims(table)
    if fmt not in PLATFORM:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return _merged(fmt)


def _merged(fmt: str) -> dict[str, tuple[str, ...]]:
    own = PLATFORM[fmt]
    claimed = {alias: field for field, names in own.items() for alias in names}
    table: dict[str, tuple[str, ...]] = {}
    for field in FIELDS:
        mine = own.get(field, ())
        common = tuple(a for a in COMMON.get(field, ()) if claimed.get(a, field) == field)
        # The canonical name itself ("descriptor", "transaction_id") always works, last.
        table[field] = tuple(dict.fromkeys((*mine, *common, header_key(field))))
    return table


def _dedupe_claims(table: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    seen: set[str] = set()
    result: dict[str, tuple[str, ...]] = {}
    for field in FIELDS:
        result[field] = tuple(a for a in table.get(field, ()) if a not in seen)
        seen.update(result[field])
    return result
