"""Expense and card exports into the shadow-AI store (`aispend shadow ingest`), or scanned without
storing (`aispend shadow scan`): parse, fill departments, convert, classify."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from aispend.connectors.expenses.directory import load_directory
from aispend.connectors.expenses.formats import FORMATS
from aispend.connectors.expenses.parse import parse_files
from aispend.core.ledger.types import money_limit
from aispend.core.rates import load_rates
from aispend.core.settings import Settings
from aispend.core.shadow.classify import classify
from aispend.core.shadow.expense import ExpenseRow
from aispend.core.shadow.matcher import Matcher
from aispend.core.shadow.store import IngestResult, convert, store


def ingest_files(
    engine: Engine,
    paths: Sequence[Path],
    fmt: str | None,
    mapping: dict[str, str],
    settings: Settings,
    now: datetime,
) -> IngestResult:
    """Parse, fill departments, convert, upsert. Bad rows and rows without a rate are reported.

    Without a format each file's platform is recognised from its header; a file whose platform cannot be
    told, or whose header is another platform's than --format says, stops the run before anything is
    stored (rows stored under the wrong platform would be doubled when imported again correctly)."""
    limit = money_limit(engine.dialect.name)  # checked before writing: one such row must not fail the file
    parsed = parse_files(paths, fmt, mapping, default_currency=settings.currency, amount_limit=limit)
    unknown = [name for name, platform in parsed.platforms.items() if platform == "auto"]
    if fmt is None and unknown:
        return IngestResult(
            errors=parsed.errors
            + [
                f"{name}: cannot tell which platform wrote this header; nothing was imported. "
                f"Pass --format ({', '.join(FORMATS)})"
                for name in unknown
            ]
        )
    if parsed.refused:  # a file read with another platform's layout would store wrong rows: store nothing
        return IngestResult(errors=parsed.errors)
    directory = load_directory(settings.shadow_employee_directory)
    rates = load_rates(settings.rates_file, settings.currency)
    rows, rate_errors = convert([directory.fill(r) for r in parsed.rows], rates, limit)
    result = store(engine, rows, company_currency=settings.currency, now=now)
    result.errors = parsed.errors + rate_errors
    return result


def scan_files(
    paths: Sequence[Path],
    fmt: str | None,
    mapping: dict[str, str],
    matcher: Matcher,
    default_currency: str,
    duplicate_window_days: int = 3,
    refund_window_days: int = 120,
) -> tuple[list[dict[str, object]], list[str]]:
    """One JSON-ready object per data row, in file order (a row that cannot be read says why); nothing
    is stored. The errors returned are the file-level and row-level problems, as text."""
    parsed = parse_files(paths, fmt, mapping, default_currency=default_currency)
    rows = parsed.rows
    out: list[dict[str, object]] = []
    for c in classify(rows, matcher, duplicate_window_days, refund_window_days):
        row, verdict = c.row, c.verdict
        vendor = matcher.catalog.vendors.get(verdict.vendor or "")
        out.append(
            {
                "file": row.file,
                "row": row.row,
                "transaction_id": row.transaction_id or None,
                "merchant": row.merchant or row.descriptor,
                "descriptor": row.descriptor,
                "amount": format(row.amount, "f"),
                "currency": row.currency,
                "kind": row.kind,
                "is_ai": verdict.is_ai,
                "vendor": vendor.name if vendor else None,
                "vendor_id": verdict.vendor,
                "category": verdict.category,
                "needs_review": verdict.needs_review,
                "duplicate_of": _ref(c.duplicate_of),
                "refund_of": _ref(c.refund_of),
                "reason": "; ".join(filter(None, [verdict.reason, c.duplicate_reason])),
                "platform": row.source,
                "external_id": row.external_id or None,
                "modified_merchant": row.merchant if row.merchant and row.merchant != row.descriptor else None,
                "modified_amount": format(row.modified_amount, "f") if row.modified_amount is not None else None,
                "status": row.status or None,
            }
        )
    for file, number, problem in parsed.bad_rows:
        out.append(
            {
                "file": file,
                "row": number,
                "transaction_id": None,
                "merchant": None,
                "descriptor": None,
                "amount": None,
                "currency": None,
                "kind": None,
                "is_ai": None,
                "vendor": None,
                "vendor_id": None,
                "category": None,
                "needs_review": False,
                "duplicate_of": None,
                "refund_of": None,
                "reason": None,
                "error": problem,
            }
        )
    order = {path.name: i for i, path in enumerate(paths)}
    out.sort(key=lambda o: (order.get(str(o["file"]), len(order)), int(str(o["row"]))))
    return out, parsed.errors


def _ref(row: ExpenseRow | None) -> dict[str, object] | None:
    if row is None:
        return None
    return {"file": row.file, "row": row.row, "transaction_id": row.transaction_id or None}
