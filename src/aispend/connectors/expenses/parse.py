"""Read expense/card exports into ExpenseRow records: by header name, BOM and CRLF tolerant, ids as text.

Bad rows are reported (file, 1-based data row, column, value) and skipped; good rows are kept. An
amount is never guessed: letters other than a currency code are refused (not stripped: "1e30" is not
130), and a comma is a decimal comma only in the unambiguous European form with dot grouping
("1.234,56"); "12,50" is refused like everywhere else (core.money.parse_decimal).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from aispend.connectors.expenses.formats import FIELDS, NEGATIVE_CHARGES, aliases, detect_platform, header_key
from aispend.connectors.files.readers import CSV_FIELD_LIMIT, cell_problem
from aispend.core.errors import AispendError
from aispend.core.money import MoneyError, normalize_currency, parse_decimal
from aispend.core.shadow.expense import (
    KIND_CHARGE,
    KIND_FX_FEE,
    KIND_PAYMENT,
    KIND_REFUND,
    PAID_CARD,
    PAID_REIMBURSABLE,
    WIDEST_AMOUNT,
    ExpenseRow,
)

_REFUND_TYPE = re.compile(r"refund|credit|return|reversal|chargeback")
_PLAIN_AMOUNT = re.compile(r"^-?\d+(\.\d+)?$")
_OUT_OF_POCKET = re.compile(r"cash|personal|out of pocket|reimburs|employee paid")
_COMPANY_PAID = re.compile(r"card|company|corporate|amex|visa|cbcp|ibcp")
_FX_FEE = re.compile(r"\b(FOREIGN|INTL|INTERNATIONAL|CROSS[ -]?BORDER|FX|CURRENCY CONVERSION)\b.*\bFEE", re.I)
# Dot grouping and a decimal comma, at least one group: "1.234,56" cannot be read another way.
_EUROPEAN = re.compile(r"^[-+]?[0-9]{1,3}(\.[0-9]{3})+,[0-9]{1,2}$")
_DIGITS = re.compile(r"[-+]?[0-9.,]+")
_ISO_CODE = re.compile(r"^[A-Z]{3}(?=[\s\d.,+-])|(?<=[\s\d.,])[A-Z]{3}$|^[A-Z]{1,2}(?=\$)")  # USD 5, 5 EUR, CA$5
_SLASH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_TEXT_DATES = ("%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%d-%b-%y", "%Y/%m/%d")
_TRUE = {"yes", "y", "true", "1", "t", "x"}
_FALSE = {"no", "n", "false", "0", "f", ""}


class ExportError(AispendError, ValueError):
    """A file that cannot be read at all (no usable header)."""

    code = "invalid_export"


class FormatMismatch(ExportError):
    """--format names one platform and the header is another's: the whole run is refused."""

    code = "format_mismatch"


@dataclass
class ParseResult:
    rows: list[ExpenseRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bad_rows: list[tuple[str, int, str]] = field(default_factory=list)  # (file, row, what is wrong)
    refused: list[str] = field(default_factory=list)  # files refused for a wrong --format (nothing may be stored)
    platforms: dict[str, str] = field(default_factory=dict)  # file -> platform its header was read as
    columns: dict[str, str] = field(default_factory=dict)  # field -> header used, per the last file


def parse_files(
    paths: Iterable[Path],
    fmt: str | None,
    mapping: dict[str, str] | None = None,
    default_currency: str = "USD",
    amount_limit: Decimal = WIDEST_AMOUNT,
) -> ParseResult:
    result = ParseResult()
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            result.errors.append(f"{path}: cannot read: {exc.strerror}")
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")  # Excel "CSV" from Windows
            except UnicodeDecodeError:  # neither: the rows with the bad bytes are refused (cell_problem)
                text = data.decode("utf-8-sig", errors="surrogateescape")
        try:
            parse_text(text, path.name, fmt, mapping, default_currency, into=result, amount_limit=amount_limit)
        except FormatMismatch as exc:
            result.errors.append(str(exc))
            result.refused.append(path.name)
        except ExportError as exc:
            result.errors.append(str(exc))
    return result


def parse_text(
    text: str,
    name: str,
    fmt: str | None,
    mapping: dict[str, str] | None = None,
    default_currency: str = "USD",
    into: ParseResult | None = None,
    amount_limit: Decimal = WIDEST_AMOUNT,
) -> ParseResult:
    result = into if into is not None else ParseResult()
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ExportError(f"{name}: the header row is not valid CSV ({exc})") from None
    if not header:
        raise ExportError(f"{name}: empty file (no header row)")
    platform = platform_of(header, fmt, name)
    columns = resolve_columns(header, platform, mapping or {}, name)
    result.columns = {f: header[i] for f, i in columns.items()}
    result.platforms[name] = platform or "auto"
    occurrences: dict[str, int] = {}
    source = platform or "auto"
    number = 0
    while True:
        number += 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a cell over the limit, a stray quote: this row only
            result.errors.append(f"{name}: row {number}: not valid CSV: {exc}")
            result.bad_rows.append((name, number, f"not valid CSV: {exc}"))
            continue
        if not any(v.strip() for v in values):
            continue
        try:
            problem = cell_problem(values, header)
            if problem is not None:
                raise RowError(problem)
            row = _row(values, columns, header, name, number, source, default_currency, occurrences)
            if abs(row.amount) >= amount_limit:
                raise RowError(f"amount {row.amount} is beyond what the ledger can store (below {amount_limit:,.0f})")
        except RowError as exc:
            result.errors.append(f"{name}: row {number}: {exc}")
            result.bad_rows.append((name, number, str(exc)))
            continue
        result.rows.append(row)
    return result


class RowError(AispendError, ValueError):
    code = "invalid_row"


def platform_of(header: list[str], fmt: str | None, name: str) -> str | None:
    """The layout to read the file with: --format when given (refused when the header is plainly another
    platform's export), else the platform recognised from the header, else None (any platform's names)."""
    detected = detect_platform([header_key(h) for h in header])
    if fmt is None:
        return detected
    if detected is not None and fmt != "generic" and detected != fmt:
        raise FormatMismatch(
            f"{name}: --format {fmt} given, but the header is a {detected} export (columns {header}); "
            f"nothing was imported. Pass --format {detected}, or leave --format out to recognise it"
        )
    return fmt


def resolve_columns(header: list[str], fmt: str | None, mapping: dict[str, str], name: str) -> dict[str, int]:
    """field -> column index. --map entries (header=field) win; then aliases in preference order."""
    keys = [header_key(h) for h in header]
    columns: dict[str, int] = {}
    for column, target in mapping.items():
        if target not in FIELDS:
            raise ExportError(f"--map {column}={target}: unknown field {target!r}; fields: {', '.join(FIELDS)}")
        key = header_key(column)
        if key not in keys:
            raise ExportError(f"{name}: --map names column {column!r}, which is not in the header {header}")
        columns[target] = keys.index(key)
    taken = set(columns.values())
    for field_name, names in aliases(fmt).items():
        if field_name in columns:
            continue
        for alias in names:
            if alias in keys and keys.index(alias) not in taken:
                columns[field_name] = keys.index(alias)
                taken.add(columns[field_name])
                break
    missing = []
    if "date" not in columns:
        missing.append("a date (Date, Transaction Date, Timestamp...)")
    if "amount" not in columns and "amount_cents" not in columns:
        missing.append("an amount (Amount, Transaction Amount, Amount (cents)...)")
    if "descriptor" not in columns and "merchant" not in columns:
        missing.append("a merchant or descriptor (Merchant, Vendor, Description...)")
    if missing:
        raise ExportError(
            f"{name}: no column for {'; '.join(missing)} in header {header} (format {fmt or 'auto'}); "
            "rename the column or pass --map COLUMN=FIELD"
        )
    return columns


def _row(
    values: list[str],
    columns: dict[str, int],
    header: list[str],
    name: str,
    number: int,
    source: str,
    default_currency: str,
    occurrences: dict[str, int],
) -> ExpenseRow:
    width = len(values)
    record: defaultdict[str, str] = defaultdict(str)
    for field_name, index in columns.items():
        if index < width:
            value = values[index]
            # Quoted multi-line cells keep their line breaks, as "\n" whatever the file's endings.
            record[field_name] = value.replace("\r\n", "\n").strip() if "\r" in value else value.strip()
    get = record.__getitem__

    def where(field_name: str) -> str:
        return f"column {header[columns[field_name]]!r}"

    day = _parse_date(get("date"), header[columns["date"]])
    if "amount_cents" in columns and get("amount_cents"):
        text = get("amount_cents").replace(",", "")
        if not re.fullmatch(r"[-+]?\d+", text):
            raise RowError(f"{where('amount_cents')}: {get('amount_cents')!r} is not a whole number of cents")
        amount = Decimal(text).scaleb(-2)
    else:
        if "amount" not in columns:
            raise RowError(f"{where('amount_cents')} is empty")
        amount = _parse_amount(get("amount"), header[columns["amount"]])
    currency_text = get("currency")
    try:
        currency = normalize_currency(currency_text, default=default_currency)
    except MoneyError:
        raise RowError(f"{where('currency')}: {currency_text!r} is not an ISO 4217 currency code") from None
    descriptor, merchant = get("descriptor"), get("merchant")
    if not descriptor and not merchant:
        raise RowError("no merchant or descriptor")
    transaction_type = get("transaction_type").lower()
    if source in NEGATIVE_CHARGES:
        amount = -amount  # this card writes a purchase as a negative number
    kind = KIND_CHARGE
    if source in NEGATIVE_CHARGES and transaction_type == "payment":
        kind = KIND_PAYMENT
    elif amount < 0 or (transaction_type and _REFUND_TYPE.search(transaction_type)):
        kind, amount = KIND_REFUND, -abs(amount)
    modified_amount = None
    if get("modified_amount"):
        modified_amount = _parse_amount(get("modified_amount"), header[columns["modified_amount"]])
    if _FX_FEE.search(descriptor or merchant) or "foreign transaction fee" in get("category").lower():
        kind = KIND_FX_FEE
    transaction_id = _id_text(get("transaction_id"))
    external_id = _id_text(get("external_id"))
    transaction_id = transaction_id or external_id
    employee = get("employee") or " ".join(filter(None, (get("first_name"), get("last_name"))))
    status = get("status").lower()
    if "posted_date" in columns and not get("posted_date"):
        status = "pending"
    identity = transaction_id or "h:" + _content_hash(
        day,
        amount,
        currency,
        descriptor,
        merchant,
        get("email"),
        employee,
        get("report_id"),
        get("card"),
    )
    occurrences[identity] = occurrences.get(identity, 0) + 1
    natural_key = identity if occurrences[identity] == 1 else f"{identity}#{occurrences[identity]}"
    return ExpenseRow(
        file=name,
        row=number,
        source=source,
        natural_key=natural_key[:128],
        transaction_id=transaction_id,
        day=day,
        amount=amount,
        currency=currency,
        descriptor=descriptor or merchant,
        merchant=merchant,
        employee=employee,
        email=get("email").lower(),
        department=get("department"),
        category=get("category"),
        gl_code=get("gl_code"),
        memo=get("memo"),
        report_id=get("report_id"),
        card=get("card"),
        paid_by=_paid_by(get("reimbursable"), get("payment_type"), get("card")),
        kind=kind,
        mcc=get("mcc"),
        external_id=external_id,
        modified_amount=modified_amount,
        status=status[:16],
    )


def _id_text(value: str) -> str:
    """An id exactly as written (19-digit ids are text, never numbers); Amex quotes its reference with a
    leading apostrophe so spreadsheets keep it as text: that mark is not part of the id."""
    return value.strip("'") if value.startswith("'") else value


def _content_hash(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:24]


def _parse_date(text: str, column: str) -> date:
    where = f"column {column!r}"
    if not text:
        raise RowError(f"{where} is empty")
    value = text.strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    slash = _SLASH_DATE.match(value.split(" ")[0])
    if slash:
        month, day, year = (int(g) for g in slash.groups())
        year = year + 2000 if year < 100 else year
        try:
            return date(year, month, day)
        except ValueError:
            raise RowError(f"{where}: {text!r} is not a valid MM/DD/YY date") from None
    for pattern in _TEXT_DATES:
        try:
            return datetime.strptime(value, pattern).date()  # noqa: DTZ007 (a calendar day, no time)
        except ValueError:
            continue
    raise RowError(f"{where}: {text!r} is not a date (expected YYYY-MM-DD or MM/DD/YY)")


def _parse_amount(text: str, column: str) -> Decimal:
    """An export's amount: plain, or with a currency symbol or code, spaces, accounting parentheses or a
    trailing minus. Anything else is refused with the reason, never stripped into another number."""
    where = f"column {column!r}"
    value = text.strip()
    if not value:
        raise RowError(f"{where} is empty")
    if _PLAIN_AMOUNT.match(value):
        return Decimal(value)
    negative = (value.startswith("(") and value.endswith(")")) or value.endswith("-")
    core = value.strip("()").rstrip("-") if negative else value
    core = _ISO_CODE.sub("", core.strip())
    cleaned = "".join(ch for ch in core if not (ch.isspace() or unicodedata.category(ch) == "Sc"))
    if not _DIGITS.fullmatch(cleaned):
        raise RowError(f"{where}: {text!r} is not an amount")
    if _EUROPEAN.match(cleaned):
        cleaned = cleaned.replace(".", "").replace(",", ".")
    try:
        amount = parse_decimal(cleaned, what="amount")
    except MoneyError as exc:
        raise RowError(f"{where}: {text!r}: {exc}") from None
    return -abs(amount) if negative else amount


def _paid_by(reimbursable: str, payment_type: str, card: str) -> str:
    flag = reimbursable.strip().lower()
    if flag in _TRUE:
        return PAID_REIMBURSABLE
    if flag in _FALSE and reimbursable.strip():
        return PAID_CARD
    kind = payment_type.lower()
    if kind and _OUT_OF_POCKET.search(kind):
        return PAID_REIMBURSABLE
    if kind and _COMPANY_PAID.search(kind):
        return PAID_CARD
    return PAID_CARD if card else ""


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """`--map "Vendor Text=descriptor"` entries -> {column: field}."""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        if not sep or not column.strip() or not target.strip():
            raise ExportError(f"--map {item!r}: expected COLUMN=FIELD (fields: {', '.join(FIELDS)})")
        mapping[column.strip()] = target.strip()
    return mapping
