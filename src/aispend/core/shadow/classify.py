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

import re
from collections import defaultdict
from dataclasses import dataclass, replace
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
    verdicts = decide_from_context(rows, verdicts, matcher)
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


# Merchant category codes of software and digital goods: computer software stores, digital goods (media,
# applications, games), computer programming and data processing, computer network services.
SOFTWARE_MCC = frozenset({"5734", "5817", "5818", "7372", "4816", "5815", "5816"})
_SOFTWARE_WORDS = re.compile(r"software|saas|subscription|cloud|computer|\bit\b|dev ?tools|licen[cs]e|digital", re.I)
# Codes and categories that say the merchant is not a software vendor: eating places, lodging, airlines
# and travel, fuel, groceries, retail, entertainment.
_OTHER_MCC = re.compile(r"^(58\d\d|70\d\d|3\d\d\d|4[01]\d\d|55\d\d|54\d\d|53\d\d|56\d\d|59\d\d|79\d\d)$")
_OTHER_WORDS = re.compile(
    r"meal|food|dining|restaurant|drink|bar\b|lodging|hotel|travel|airfare|fuel|gas\b|grocer|"
    r"entertainment|parking|merchandise|apparel|clothing|office supplies|supplies",
    re.I,
)
_AI_MEMO = re.compile(
    r"\b(ai|llm|gpt|model|models|prompt|transcri\w*|agent|agents|ide|copilot|api|inference|gpu|"
    r"embedding\w*|notes|notetaker|slides|coding|code)\b",
    re.I,
)
_AI_TEAMS = re.compile(r"engineer|research|data|machine learning|\bml\b|\bai\b|product|design", re.I)


def decide_from_context(rows: list[ExpenseRow], verdicts: list[Verdict], matcher: Matcher) -> list[Verdict]:
    """A bare vendor name that is also an ordinary word ("CURSOR", "GAMMA", "RUNWAY") is decided from the
    row's context: MCC, category or GL text, memo, a recurring monthly amount, the department, the same
    descriptor already matched elsewhere. A vendor match whose MCC and category both say "not software"
    (a restaurant, a hotel) is sent to review instead. The reason names the signals used."""
    matched_keys: dict[str, str] = {}
    for row, verdict in zip(rows, verdicts, strict=True):
        if verdict.is_ai and verdict.vendor:
            matched_keys.setdefault(normalize(row.descriptor or row.merchant).key, verdict.vendor)
    months: dict[tuple[str, str, object], set[tuple[int, int]]] = defaultdict(set)
    for row, verdict in zip(rows, verdicts, strict=True):
        if verdict.candidate:
            months[(_person(row), verdict.candidate, row.amount)].add((row.day.year, row.day.month))
    out: list[Verdict] = []
    for row, verdict in zip(rows, verdicts, strict=True):
        if verdict.candidate:
            out.append(_decide_bare(row, verdict, verdict.candidate, matcher, matched_keys, months))
        elif verdict.is_ai and verdict.vendor:
            against = _against(row)
            if against and not _for(row):
                name = matcher.catalog.vendors[verdict.vendor].name
                out.append(
                    Verdict(
                        False,
                        None,
                        None,
                        f"{verdict.reason}; but {' and '.join(against)} say it is not {name}",
                        needs_review=True,
                    )
                )
            else:
                out.append(verdict)
        else:
            out.append(verdict)
    return out


def _for(row: ExpenseRow) -> list[str]:
    signals = []
    if row.mcc.strip() in SOFTWARE_MCC:
        signals.append(f"MCC {row.mcc.strip()}")
    for label, text in (("category", row.category), ("GL code", row.gl_code)):
        if text and _SOFTWARE_WORDS.search(text):
            signals.append(f"{label} {text!r}")
    return signals


def _against(row: ExpenseRow) -> list[str]:
    signals = []
    if row.mcc.strip() not in SOFTWARE_MCC and _OTHER_MCC.match(row.mcc.strip()):
        signals.append(f"MCC {row.mcc.strip()}")
    if row.category and _OTHER_WORDS.search(row.category):
        signals.append(f"category {row.category!r}")
    return signals


def _decide_bare(
    row: ExpenseRow,
    verdict: Verdict,
    vendor_id: str,
    matcher: Matcher,
    matched_keys: dict[str, str],
    months: dict[tuple[str, str, object], set[tuple[int, int]]],
) -> Verdict:
    vendor = matcher.catalog.vendors[vendor_id]
    against = _against(row)
    if against:
        return Verdict(False, None, None, f"{verdict.reason}; {' and '.join(against)} say it is not {vendor.name}")
    strong = _for(row)
    key = normalize(row.descriptor or row.merchant).key
    if matched_keys.get(key) == vendor_id:
        strong.append(f"the same descriptor is matched to {vendor.name} on another line")
    weak = []
    memo = _AI_MEMO.search(row.memo)
    if memo:
        weak.append(f"memo word {memo.group(0)!r}")
    if len(months.get((_person(row), vendor_id, row.amount), ())) >= 2:
        # A recurring amount alone is any subscription (parking, a club): it decides only with a memo word.
        (strong if memo else weak).append(f"{row.amount} {row.currency} recurs monthly")
    if row.department and _AI_TEAMS.search(row.department):
        weak.append(f"department {row.department!r}")
    if strong:
        return Verdict(
            True,
            vendor.id,
            vendor.category,
            f"{verdict.reason}, decided from context: {', '.join(strong + weak)}",
        )
    return replace(verdict, reason=f"{verdict.reason}; context says neither ({', '.join(weak) or 'no signal'})")


def _person(row: ExpenseRow) -> str:
    """ "Ito, Gus", "GUS ITO" and "gus ito" are one person (exports write names all these ways)."""
    text = (row.email or row.employee).strip().lower()
    if "@" not in text and "," in text:
        last, _, first = text.partition(",")
        text = f"{first.strip()} {last.strip()}"
    return " ".join(text.split())


def _persons(row: ExpenseRow) -> frozenset[str]:
    """Every way the row names its person (email and name: one export has both, another only the name)."""
    name = " ".join(row.employee.strip().lower().split())
    if "," in name:
        last, _, first = name.partition(",")
        name = f"{first.strip()} {last.strip()}"
    return frozenset(p for p in (row.email.strip().lower(), name) if p)


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
            # The name when the export has one (one file may give email and name, another the name only).
            persons = _persons(row)
            canonical = min((p for p in persons if "@" not in p), default=min(persons, default=""))
            groups[(canonical, row.currency, row.amount)].append(i)
    window = timedelta(days=window_days)
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda i: (rows[i].day, rows[i].paid_by == PAID_REIMBURSABLE, i))
        names = {i: _merchant_keys(rows[i], keys[i]) for i in members}
        people = {i: _persons(rows[i]) for i in members}
        used: set[int] = set()
        for position, i in enumerate(members):
            if i in found or i in used:
                continue
            for j in members[position + 1 :]:
                if j in found or j in used or rows[j].day - rows[i].day > window:
                    continue
                if not names[i] & names[j] or (people[i] != people[j] and not people[i] & people[j]):
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
