"""Classify rows (AI or not, which vendor) and link data duplicates and refunds. Pure.

Data duplicates (counted once, reported):
- the same transaction id twice in one source;
- the same charge paid by card and claimed again out of pocket (a receipt-created cash expense, or a
  card charge re-submitted for reimbursement), seen again as a receipt-created expense (no card, no
  card-transaction id), or imported from two platforms: same person (names compared "Last, First" =
  "First Last"), amount and currency within a few days, a merchant name in common (vendor, card text or
  edited name), from different payment methods or sources.
Two card charges with different ids from one source are never data duplicates: a vendor that billed
twice and refunded once shows as two charges and a refund (which nets against one of them).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from aispend.core.shadow.expense import KIND_CHARGE, KIND_REFUND, PAID_CARD, PAID_REIMBURSABLE, ExpenseRow
from aispend.core.shadow.matcher import Matcher, Verdict
from aispend.core.shadow.normalize import normalize

DEFAULT_DUPLICATE_WINDOW_DAYS = 3
DEFAULT_REFUND_WINDOW_DAYS = 120


@dataclass(frozen=True)
class Classified:
    row: ExpenseRow
    verdict: Verdict
    duplicate_of: ExpenseRow | None = None
    duplicate_reason: str = ""
    refund_of: ExpenseRow | None = None

    @property
    def counts(self) -> bool:
        """Counted in spend: not a data duplicate (refunds count, negatively)."""
        return self.duplicate_of is None

    @property
    def vendor_key(self) -> str:
        return self.verdict.vendor or merchant_key(self.row)


def merchant_key(row: ExpenseRow) -> str:
    """The first identity word of the descriptor ("UBER" for "UBER *TRIP HELP.UBER.COM")."""
    key = normalize(row.descriptor or row.merchant).key
    return key.split(" ")[0] if key else row.merchant.strip().upper()


def classify(
    rows: list[ExpenseRow],
    matcher: Matcher,
    duplicate_window_days: int = DEFAULT_DUPLICATE_WINDOW_DAYS,
    refund_window_days: int = DEFAULT_REFUND_WINDOW_DAYS,
) -> list[Classified]:
    verdicts = [matcher.classify(r.descriptor, r.merchant, r.memo, abs(r.amount), r.currency) for r in rows]
    keys = [v.vendor or merchant_key(r) for r, v in zip(rows, verdicts, strict=True)]
    duplicates = _duplicates(rows, keys, duplicate_window_days)
    refunds = _refunds(rows, keys, duplicates, refund_window_days)
    return [
        Classified(
            row=row,
            verdict=verdict,
            duplicate_of=rows[duplicates[i][0]] if i in duplicates else None,
            duplicate_reason=duplicates[i][1] if i in duplicates else "",
            refund_of=rows[refunds[i]] if i in refunds else None,
        )
        for i, (row, verdict) in enumerate(zip(rows, verdicts, strict=True))
    ]


def _person(row: ExpenseRow) -> str:
    """ "Ito, Gus", "GUS ITO" and "gus ito" are one person (exports write names all these ways)."""
    text = (row.email or row.employee).strip().lower()
    if "@" not in text and "," in text:
        last, _, first = text.partition(",")
        text = f"{first.strip()} {last.strip()}"
    return " ".join(text.split())


def _merchant_keys(row: ExpenseRow, key: str) -> frozenset[str]:
    """Every name the row goes by: the vendor (or descriptor key), and the first identity word of the card
    text and of the edited merchant name ("UBER *TRIP" and "Uber" share "UBER")."""
    names = {key}
    for text in (row.descriptor, row.merchant):
        if text:
            words = normalize(text).key.split(" ")
            if words and words[0]:
                names.add(words[0])
    return frozenset(names)


def _duplicates(rows: list[ExpenseRow], keys: list[str], window_days: int) -> dict[int, tuple[int, str]]:
    found: dict[int, tuple[int, str]] = {}
    first_by_id: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        if not row.transaction_id:
            continue
        ident = (row.source, row.transaction_id)
        if ident in first_by_id:
            found[i] = (first_by_id[ident], f"same transaction id {row.transaction_id!r} as an earlier row")
        else:
            first_by_id[ident] = i

    groups: dict[tuple[str, str, object], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if i not in found and row.kind == KIND_CHARGE:
            groups[(_person(row), row.currency, row.amount)].append(i)
    window = timedelta(days=window_days)
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda i: (rows[i].day, rows[i].paid_by == PAID_REIMBURSABLE, i))
        names = {i: _merchant_keys(rows[i], keys[i]) for i in members}
        used: set[int] = set()
        for position, i in enumerate(members):
            if i in found or i in used:
                continue
            for j in members[position + 1 :]:
                if j in found or j in used or rows[j].day - rows[i].day > window:
                    continue
                if not names[i] & names[j]:
                    continue
                reason = _claimed_twice(rows[i], rows[j])
                if reason:
                    # The card charge is the original even when the receipt was filed first.
                    swap = rows[i].paid_by == PAID_REIMBURSABLE and rows[j].paid_by != PAID_REIMBURSABLE
                    duplicate, original = (i, j) if swap else (j, i)
                    found[duplicate] = (original, reason)
                    used.add(original)
                    break
    return found


def _claimed_twice(original: ExpenseRow, other: ExpenseRow) -> str:
    if original.paid_by != other.paid_by and PAID_REIMBURSABLE in (original.paid_by, other.paid_by):
        return (
            f"same person, vendor, amount and currency within days: paid by {original.paid_by or 'card'} "
            f"and claimed again as {other.paid_by or 'card'}"
        )
    if original.source != other.source:
        return f"same charge imported from {original.source} and {other.source}"
    if _receipt_only(original) != _receipt_only(other):
        return "same person, vendor, amount and currency within days: a card charge and a receipt-created expense"
    return ""


def _receipt_only(row: ExpenseRow) -> bool:
    """An expense made from a receipt: no card, no card-transaction id, not marked as paid by card."""
    return not row.card and not row.transaction_id and row.paid_by != PAID_CARD


def _refunds(
    rows: list[ExpenseRow], keys: list[str], duplicates: dict[int, tuple[int, str]], window_days: int
) -> dict[int, int]:
    """refund index -> the charge it reverses (same person and vendor; the exact amount preferred)."""
    charges: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if row.kind == KIND_CHARGE and i not in duplicates:
            charges[(_person(row), keys[i], row.currency)].append(i)
    links: dict[int, int] = {}
    taken: set[int] = set()
    window = timedelta(days=window_days)
    refund_indexes = [i for i, r in enumerate(rows) if r.kind == KIND_REFUND and i not in duplicates]
    for i in sorted(refund_indexes, key=lambda i: rows[i].day):
        refund = rows[i]
        candidates = [
            c
            for c in charges.get((_person(refund), keys[i], refund.currency), [])
            if c not in taken and timedelta(0) <= refund.day - rows[c].day <= window
        ]
        if not candidates:
            continue
        exact = [c for c in candidates if rows[c].amount == -refund.amount]
        pool = exact or candidates
        chosen = max(pool, key=lambda c: (rows[c].day, c))
        links[i] = chosen
        taken.add(chosen)
    return links
