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
    "modified_amount",
    "modified_date",
    "external_id",
    "first_name",
    "last_name",
    "status",
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
    "modified_amount": ("modifiedamount",),
    "modified_date": ("modifiedsalesdate", "modifieddate"),
    "external_id": ("externalid",),
    "first_name": ("firstname",),
    "last_name": ("lastname",),
    "status": ("status", "state", "transactionstatus"),
}

PLATFORM: dict[str, dict[str, tuple[str, ...]]] = {
    # Expensify. Reconciliation ("All Expenses") export: the card's own text and amount are "Original
    # Merchant"/"Original Amount", the employee's edits "Modified Merchant"/"Modified Amount" (kept), the
    # purchase day "Sales date". Classic default CSV: Timestamp, Merchant, Amount, MCC, Category, Tag,
    # Comment, Reimbursable, Original Currency, Original Amount, Receipt; there "Original Amount" is the
    # foreign-currency amount, so it is the amount only when no plain "Amount" column exists.
    "expensify": {
        "descriptor": ("originalmerchant", "bankdescription", "merchantdescriptor"),
        "merchant": ("modifiedmerchant", "merchant"),
        "date": ("salesdate", "timestamp", "date", "transactiondate"),
        "amount": ("amount", "originalamount"),
        "original_amount": ("foreignamount",),
        "report_id": ("reportid", "expensereportid", "reportnumber"),
        "memo": ("comment", "description"),
        "amount_cents": ("amountcents", "expenseamountcents"),
        "card": ("cardname", "card", "customcardname"),
        "gl_code": ("categoryglcode", "glcode"),
        "status": ("expensestatus", "status"),
        "payment_type": ("type", "paymenttype"),
        "transaction_type": ("transactiontype",),
    },
    # Ramp card transactions: "Merchant Name" is cleaned by Ramp, "Merchant Description" (or a descriptor
    # column) is the card's text; "Clearing Date" is empty on a pending row.
    "ramp": {
        "descriptor": (
            "merchantdescription",
            "merchantdescriptor",
            "originalmerchantname",
            "statementdescriptor",
        ),
        "merchant": ("merchantname", "merchant"),
        "employee": ("user", "username", "cardholder", "employee"),
        "gl_code": ("glaccount", "accountingglaccount", "glcode"),
        "category": ("category", "rampcategory", "accountingcategory", "spendcategory"),
        "posted_date": ("clearingdate", "settlementdate", "posteddate"),
        "date": ("transactiondate", "date", "usertransactiontime", "authorizationdate"),
        "card": ("card", "cardname", "cardlast4"),
    },
    # Brex: "Description" is the card descriptor; API-style exports give amounts in cents.
    "brex": {
        "descriptor": ("description", "merchantdescriptor", "rawdescriptor"),
        "merchant": ("merchant", "merchantname"),
        "memo": ("memo", "notes"),
        "amount_cents": ("amountcents", "amountminor"),
        "date": ("transactiondate", "date", "postedat"),
        "employee": ("user", "cardmember", "cardholder", "employee"),
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
    # American Express activity download: Date, Description, Card Member, Account #, Amount, Extended
    # Details, Appears On Your Statement As, Address, City/State, Zip Code, Country, Reference, Category.
    # Charges are positive, credits negative.
    "amex": {
        "descriptor": ("appearsonyourstatementas", "description"),
        "merchant": ("description",),
        "employee": ("cardmember",),
        "card": ("account", "accountnumber"),
        "transaction_id": ("reference",),
        "memo": ("extendeddetails",),
    },
    # Chase card activity: Transaction Date, Post Date, Description, Category, Type, Amount, Memo.
    # Purchases are NEGATIVE ("Sale"), returns positive ("Return"); see NEGATIVE_CHARGES.
    "chase": {
        "descriptor": ("description",),
        "date": ("transactiondate",),
        "posted_date": ("postdate",),
        "transaction_type": ("type",),
        "memo": ("memo",),
    },
    # QuickBooks Online expense list / transaction report export.
    "quickbooks": {
        "merchant": ("payee", "vendor", "name"),
        "descriptor": ("bankdescription", "memodescription", "description"),
        "amount": ("total", "amount"),
        "transaction_id": ("no", "num", "refno"),
        "transaction_type": ("transactiontype", "type"),
        "memo": ("memo", "memodescription"),
        "gl_code": ("account", "splitaccount"),
        "category": ("category", "expensecategory"),
    },
    # Xero statement/expense CSV: Date, Amount, Payee, Description, Reference (+ account code).
    "xero": {
        "merchant": ("payee", "contact", "contactname"),
        "descriptor": ("description",),
        "transaction_id": ("reference", "transactionid"),
        "gl_code": ("accountcode", "account"),
        "memo": ("reference",),
    },
    "generic": {},
}

# Cards that export a purchase as a negative number (and a return as a positive one).
NEGATIVE_CHARGES = frozenset({"chase"})

# Header names that say which platform wrote a file (normalised keys). A platform is recognised when at
# least MIN_SIGNATURE of its names are present and no other platform has as many.
SIGNATURES: dict[str, frozenset[str]] = {
    "expensify": frozenset(
        {
            "originalmerchant",
            "modifiedmerchant",
            "modifiedamount",
            "salesdate",
            "modifiedsalesdate",
            "categoryglcode",
            "reporturl",
            "policyid",
            "policyname",
            "customcardname",
            "finalapprovedate",
            "timestamp",
            "reimbursable",
            "receipt",
            "receipturl",
            "bankdescription",
        }
    ),
    "ramp": frozenset(
        {"merchantdescription", "merchantdescriptor", "clearingdate", "rampcategory", "accountingcategory", "user"}
    ),
    "brex": frozenset({"postedat", "amountcents", "cardlast4", "cardmember", "merchantname"}),
    "concur": frozenset(
        {"reportkey", "entrykey", "expensetype", "vendordescription", "businesspurpose", "employeeid", "paymenttype"}
    ),
    "navan": frozenset({"statementdescriptor", "useremail", "expenseid"}),
    "amex": frozenset(
        {"appearsonyourstatementas", "extendeddetails", "cardmember", "citystate", "zipcode", "reference", "account"}
    ),
    "chase": frozenset({"postdate", "type", "memo", "description", "transactiondate"}),
    "quickbooks": frozenset({"no", "num", "payee", "total", "splitaccount", "memodescription", "transactiontype"}),
    "xero": frozenset({"payee", "reference", "accountcode", "taxtype", "chequenumber", "checknumber"}),
}
MIN_SIGNATURE = 2
# Where a score alone cannot tell two platforms apart, a name only one of them writes decides.
_DECISIVE: dict[str, frozenset[str]] = {
    "chase": frozenset({"postdate"}),
    "amex": frozenset({"appearsonyourstatementas", "extendeddetails", "citystate"}),
    "expensify": frozenset({"originalmerchant", "modifiedmerchant", "reporturl", "timestamp", "bankdescription"}),
    "concur": frozenset({"reportkey", "entrykey", "vendordescription"}),
    "navan": frozenset({"statementdescriptor"}),
    "ramp": frozenset({"clearingdate", "merchantdescription", "rampcategory"}),
    "brex": frozenset({"postedat", "amountcents"}),
    "quickbooks": frozenset({"memodescription", "splitaccount"}),
    "xero": frozenset({"accountcode", "taxtype"}),
}


def detect_platform(keys: list[str]) -> str | None:
    """The platform whose export this header is (normalised keys), or None when it is not clear."""
    present = set(keys)
    scores = {
        name: len(signature & present) + 2 * len(_DECISIVE.get(name, frozenset()) & present)
        for name, signature in SIGNATURES.items()
    }
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    best, score = ranked[0]
    if len(SIGNATURES[best] & present) < MIN_SIGNATURE or (len(ranked) > 1 and ranked[1][1] == score):
        return None
    return best


FORMATS = tuple(PLATFORM)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def header_key(header: str) -> str:
    return _NON_ALNUM.sub("", header.lower().lstrip("\ufeff"))


def aliases(fmt: str | None) -> dict[str, tuple[str, ...]]:
    """The alias table of one format (None: every platform's aliases, for scanning an unknown export)."""
    if fmt is None:
        table: dict[str, tuple[str, ...]] = {}
        for name in ("generic", "expensify", "ramp", "concur", "navan"):  # "description" stays a memo
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
