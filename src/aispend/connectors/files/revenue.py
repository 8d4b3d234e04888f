"""Revenue CSV (`aispend ingest revenue`): monthly AI-product revenue and gross margin per feature,
optionally per customer, as Finance keeps it.

Header (names case-insensitive, in any order, other columns ignored): `period` (YYYY-MM), `feature`,
optional `customer`, `revenue`, `gross_margin` or `cogs` (gross margin = revenue - cogs; with both,
they must agree), optional `currency` (ISO 4217, default the company currency). A UTF-8 BOM, CRLF
line ends and quoted grouped amounts ("1,000,000.00") are read; an ambiguous "1,50" is refused, never
guessed (core.money.parse_decimal). Each refused row is `file:line: field value: reason`; the good
rows are kept.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from aispend.connectors.files.readers import CSV_FIELD_LIMIT, cell_problem
from aispend.core.governance.revenue import RevenueFigure, RevenueWrite, write_revenue
from aispend.core.ledger.db import session_scope
from aispend.core.ledger.types import money_limit
from aispend.core.money import MoneyError, normalize_currency, parse_decimal

COLUMNS = ("period", "feature", "customer", "revenue", "gross_margin", "cogs", "currency")
TEXT_LIMIT = 128  # feature and customer, as the table stores them
_PERIOD = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, slots=True)
class Rejection:
    file: str
    line: int  # the file's line (the header is line 1); 0 for the file as a whole
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.field == "row":  # the row as a whole (not CSV, a NUL or a byte that is not UTF-8: named)
            return f"{where}: {self.reason}"
        return f"{where}: {self.field} {self.value!r}: {self.reason}"


@dataclass
class RevenueImport:
    files: int = 0
    rows_read: int = 0
    figures: list[RevenueFigure] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    written: RevenueWrite = field(default_factory=RevenueWrite)
    first_seen: dict[tuple[date, str, str], str] = field(default_factory=dict)  # key -> "file:line"

    @property
    def ok(self) -> bool:
        return not self.rejections


class _Refused(ValueError):
    def __init__(self, column: str, value: str, reason: str) -> None:
        super().__init__(reason)
        self.column, self.value, self.reason = column, value, reason


def _header_key(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _amount(column: str, value: str, limit: Decimal) -> Decimal:
    try:
        amount = parse_decimal(value, what=column)
    except MoneyError as exc:
        message = str(exc)
        reason = message.split(" is ", 1)[1] if message.startswith(f"{column} {value!r} is ") else "not a number"
        raise _Refused(column, value, reason) from None
    if abs(amount) >= limit:
        raise _Refused(column, value, f"beyond what the ledger can store (below {limit:,.0f})")
    return amount


def _month(value: str) -> date:
    match = _PERIOD.fullmatch(value)
    if not match or not 1 <= int(match[2]) <= 12:
        raise _Refused("period", value, "not a month: write YYYY-MM (e.g. 2026-03)")
    return date(int(match[1]), int(match[2]), 1)


def _name(column: str, value: str, *, required: bool) -> str:
    if required and not value:
        raise _Refused(column, value, "required")
    if len(value) > TEXT_LIMIT:
        raise _Refused(column, value[:40] + "…", f"longer than {TEXT_LIMIT} characters")
    return value


def _figure(cells: dict[str, str], default_currency: str, limit: Decimal) -> RevenueFigure:
    month = _month(cells["period"])
    feature = _name("feature", cells["feature"], required=True)
    customer = _name("customer", cells.get("customer", ""), required=False)
    revenue = _amount("revenue", cells["revenue"], limit)
    if revenue < 0:
        raise _Refused("revenue", cells["revenue"], "negative: revenue is an amount earned (restate the month instead)")
    margin_text, cogs_text = cells.get("gross_margin", ""), cells.get("cogs", "")
    margin = _amount("gross_margin", margin_text, limit) if margin_text else None
    if cogs_text:
        cogs = _amount("cogs", cogs_text, limit)
        if cogs < 0:
            raise _Refused("cogs", cogs_text, "negative: cost of goods sold is a cost")
        if margin is not None and margin != revenue - cogs:
            raise _Refused("gross_margin", margin_text, f"is not revenue - cogs ({revenue - cogs}): give one of them")
        margin = revenue - cogs
    if margin is None:
        raise _Refused("gross_margin", margin_text, "required: give gross_margin, or cogs")
    if margin > revenue:
        raise _Refused("gross_margin", margin_text, f"more than the revenue ({revenue}): it is revenue - cogs")
    try:
        currency = normalize_currency(cells.get("currency"), default_currency)
    except MoneyError:
        raise _Refused("currency", cells.get("currency", ""), "not an ISO 4217 currency code (e.g. USD)") from None
    return RevenueFigure(month, feature, customer, revenue, margin, currency)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:  # the rows with the bad bytes are refused, naming the column (cell_problem)
        return data.decode("utf-8-sig", errors="surrogateescape")


def parse_revenue(
    path: Path, default_currency: str, limit: Decimal, into: RevenueImport | None = None
) -> RevenueImport:
    """Read one file into `into` (figures and rejections); a key seen earlier (in this file or an
    earlier one of the same import) is refused, naming the line that gave it first."""
    result = into if into is not None else RevenueImport()
    result.files += 1
    name = path.name
    try:
        text = _decode(path.read_bytes())
    except OSError as exc:
        result.rejections.append(Rejection(name, 0, "file", str(path), f"cannot read: {exc.strerror}"))
        return result
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        result.rejections.append(Rejection(name, 1, "header", "", f"not valid CSV ({exc})"))
        return result
    keys = [_header_key(h) for h in header or []]
    missing = [c for c in ("period", "feature", "revenue") if c not in keys]
    if not ({"gross_margin", "cogs"} & set(keys)):
        missing.append("gross_margin (or cogs)")
    if missing:
        shown = ",".join(header or [])
        reason = f"no column {', '.join(missing)}; the header is period,feature,customer,revenue,gross_margin,currency"
        result.rejections.append(Rejection(name, 1, "header", shown, reason))
        return result
    at = {key: i for i, key in reversed(list(enumerate(keys))) if key in COLUMNS}
    seen = result.first_seen
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.rows_read += 1
            result.rejections.append(Rejection(name, line, "row", "", f"not valid CSV ({exc})"))
            continue
        if not any(v.strip() for v in values):
            continue
        result.rows_read += 1
        problem = cell_problem(values, header or [])
        if problem is not None:
            result.rejections.append(Rejection(name, line, "row", "", problem))
            continue
        cells = {key: values[i].replace("\r\n", "\n").strip() if i < len(values) else "" for key, i in at.items()}
        try:
            figure = _figure(cells, default_currency, limit)
            if figure.key in seen:
                raise _Refused(
                    "feature",
                    figure.feature,
                    f"the same period, feature and customer as {seen[figure.key]}: one figure each",
                )
        except _Refused as refused:
            result.rejections.append(Rejection(name, line, refused.column, refused.value, refused.reason))
            continue
        seen[figure.key] = f"{name}:{line}"
        result.figures.append(figure)
    return result


def ingest_revenue_files(engine: Engine, paths: Sequence[Path], default_currency: str, now: datetime) -> RevenueImport:
    """Parse every file, then write the good figures in one transaction (idempotent, restatable)."""
    result = RevenueImport()
    limit = money_limit(engine.dialect.name)
    for path in paths:
        parse_revenue(path, default_currency, limit, into=result)
    with session_scope(engine) as session:
        result.written = write_revenue(session, result.figures, now=now)
    return result
