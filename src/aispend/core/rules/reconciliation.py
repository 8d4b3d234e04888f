"""Reconciliation rules (pure): per-call logs against bills, and the one merge of the two.

System of record (docs/reconciliation.md):
* the provider's or cloud's bill is the total for a provider and day;
* per-call logs give the shares within that total (workflow, team, customer, model ...);
* what the logs do not explain is its own "unattributed" line, never spread silently.

Providers are compared by a canonical key (genai-prices ids: openai, anthropic, aws, azure,
google), because bills say "OpenAI" or "AWS" / "Amazon Bedrock" while logs say "openai" or "bedrock".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TypeVar

from aispend.core.money import ZERO, percent, to_ledger

UNATTRIBUTED = ""

_PROVIDER_ALIASES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "aws": "aws",
    "amazon": "aws",
    "amazon web services": "aws",
    "bedrock": "aws",
    "aws-bedrock": "aws",
    "amazon-bedrock": "aws",
    "microsoft": "azure",
    "azure": "azure",
    "azure-openai": "azure",
    "azure openai": "azure",
    "google": "google",
    "google cloud": "google",
    "gcp": "google",
    "vertex": "google",
    "vertex-ai": "google",
    "google-vertex": "google",
    "google-gla": "google",
    "gemini": "google",
}


def provider_key(provider: str, service_name: str = "") -> str:
    """Canonical provider of a bill line or a logged call ("OpenAI" -> "openai", "bedrock" -> "aws")."""
    for text in (provider, service_name):
        name = text.strip().lower().replace("_", "-")
        if name in _PROVIDER_ALIASES:
            return _PROVIDER_ALIASES[name]
        if name.replace("-", " ") in _PROVIDER_ALIASES:
            return _PROVIDER_ALIASES[name.replace("-", " ")]
    service = service_name.strip().lower()
    if service.startswith("amazon"):
        return "aws"
    if service.startswith("azure"):
        return "azure"
    if "vertex" in service or "gemini" in service:
        return "google"
    return provider.strip().lower()


# --- reconciliation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BillTotal:
    """AI spend on a provider's or cloud's bill for one day (cost lines with is_ai)."""

    provider: str  # canonical key
    day: date
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class CallTotal:
    """Per-call totals (call rollups) for one provider, day and model."""

    provider: str  # canonical key
    day: date
    currency: str
    model: str
    cost: Decimal
    calls: int = 0
    unpriced_calls: int = 0
    zero_cost_calls: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class Cause:
    # unpriced_model | zero_cost_calls | no_logs | no_bill | logs_exceed_bill | calls_missing_from_logs
    kind: str
    message: str
    model: str = ""
    calls: int = 0
    days: int = 0


@dataclass
class ReconRow:
    """One provider and day (or, with day None, the whole period)."""

    provider: str
    currency: str
    day: date | None
    bill: Decimal | None  # None: no bill line at all
    calls_cost: Decimal
    calls: int = 0
    causes: list[Cause] = field(default_factory=list)

    @property
    def drift(self) -> Decimal:
        """Bill minus per-call total: positive when the logs under-report."""
        return (self.bill or ZERO) - self.calls_cost

    @property
    def drift_percent(self) -> Decimal | None:
        """Drift as a percentage of the bill (the system of record); None without a bill."""
        if self.bill is None:
            return None
        return percent(self.drift, self.bill)


def reconcile(
    bills: Iterable[BillTotal],
    calls: Iterable[CallTotal],
    provider_tokens: Mapping[tuple[str, date], int] | None = None,
) -> list[ReconRow]:
    """Per provider, currency and day: bill vs per-call total, with the likely causes of the drift.

    `provider_tokens` (optional) is what the provider's own usage API reports per (provider, day);
    many more tokens there than in the logs means calls are missing from the logs.
    """
    bill_by_key: dict[tuple[str, str, date], Decimal] = defaultdict(Decimal)
    for bill in bills:
        bill_by_key[(bill.provider, bill.currency, bill.day)] += bill.amount
    calls_by_key: dict[tuple[str, str, date], list[CallTotal]] = defaultdict(list)
    for call in calls:
        calls_by_key[(call.provider, call.currency, call.day)].append(call)
    rows = []
    for key in sorted(set(bill_by_key) | set(calls_by_key)):
        provider, currency, day = key
        models = calls_by_key.get(key, [])
        row = ReconRow(
            provider=provider,
            currency=currency,
            day=day,
            bill=bill_by_key.get(key),
            calls_cost=sum((m.cost for m in models), ZERO),
            calls=sum(m.calls for m in models),
        )
        reported = (provider_tokens or {}).get((provider, day))
        row.causes = _day_causes(row, models, reported)
        rows.append(row)
    return rows


def _day_causes(row: ReconRow, models: list[CallTotal], provider_tokens: int | None) -> list[Cause]:
    causes: list[Cause] = []
    for model in sorted(models, key=lambda m: (-m.unpriced_calls, m.model)):
        if model.unpriced_calls:
            causes.append(
                Cause(
                    "unpriced_model",
                    f"unpriced model {model.model or '(unknown)'}: {model.unpriced_calls} calls "
                    "without a price "
                    "(their cost is missing from the per-call total)",
                    model=model.model,
                    calls=model.unpriced_calls,
                )
            )
    for model in sorted(models, key=lambda m: (-m.zero_cost_calls, m.model)):
        if model.zero_cost_calls:
            causes.append(
                Cause(
                    "zero_cost_calls",
                    f"{model.zero_cost_calls} calls of {model.model or '(unknown)'} carried tokens but a cost of 0",
                    model=model.model,
                    calls=model.zero_cost_calls,
                )
            )
    if row.bill is None:
        causes.append(Cause("no_bill", "no bill line: the bill is not synced yet or this provider has no bill source"))
    elif not models and row.bill != 0:
        causes.append(Cause("no_logs", "no per-call logs for this day", days=1))
    elif row.drift < 0:
        causes.append(
            Cause(
                "logs_exceed_bill",
                "per-call logs exceed the bill: list prices vs negotiated discounts or credits, or calls logged twice",
            )
        )
    logged_tokens = sum(m.tokens for m in models)
    if provider_tokens is not None and provider_tokens > logged_tokens * Decimal("1.02"):
        causes.append(
            Cause(
                "calls_missing_from_logs",
                f"the provider reports {provider_tokens - logged_tokens:,} more tokens "
                "than the per-call logs: "
                "calls are missing from the logs",
            )
        )
    return causes


def period_totals(rows: Iterable[ReconRow]) -> list[ReconRow]:
    """One row per provider and currency over all days, with the day causes combined."""
    grouped: dict[tuple[str, str], list[ReconRow]] = defaultdict(list)
    for row in rows:
        grouped[(row.provider, row.currency)].append(row)
    totals = []
    for (provider, currency), day_rows in sorted(grouped.items()):
        billed = [r.bill for r in day_rows if r.bill is not None]
        total = ReconRow(
            provider=provider,
            currency=currency,
            day=None,
            bill=sum(billed, ZERO) if billed else None,
            calls_cost=sum((r.calls_cost for r in day_rows), ZERO),
            calls=sum(r.calls for r in day_rows),
        )
        total.causes = _combine_causes([c for r in day_rows for c in r.causes])
        totals.append(total)
    return totals


def drifting(row: ReconRow, max_pct: Decimal, min_bill: Decimal = ZERO) -> bool:
    """Whether bill and per-call logs differ by more than `max_pct` of the bill
    (AISPEND_RECONCILIATION_DRIFT_PCT): the one judgement behind the data-quality finding and the
    digest's drift note. Never without a bill, nor on a bill under `min_bill`."""
    pct = row.drift_percent
    return row.bill is not None and row.bill >= min_bill and pct is not None and abs(pct) > max_pct


_DAY_CAUSE_LABELS = {
    "no_logs": "billed days with no per-call logs",
    "no_bill": "logged days with no bill line (bill not synced yet, or no bill source)",
    "logs_exceed_bill": "days where the per-call logs exceed the bill (discounts, credits or double logging)",
    "calls_missing_from_logs": "days where the provider reports more tokens than the logs (calls missing)",
}


def _combine_causes(causes: list[Cause]) -> list[Cause]:
    by_model: dict[tuple[str, str], int] = defaultdict(int)
    day_counts: dict[str, int] = defaultdict(int)
    messages: dict[str, str] = {}
    for cause in causes:
        if cause.kind in ("unpriced_model", "zero_cost_calls"):
            by_model[(cause.kind, cause.model)] += cause.calls
        else:
            day_counts[cause.kind] += 1
            messages.setdefault(cause.kind, cause.message)
    combined = []
    for (kind, model), calls in sorted(by_model.items(), key=lambda item: (item[0][0] != "unpriced_model", -item[1])):
        name = model or "(unknown)"
        if kind == "unpriced_model":
            message = f"unpriced model {name}: {calls} calls without a price (their cost is missing from the logs)"
        else:
            message = f"{calls} calls of {name} carried tokens but a cost of 0"
        combined.append(Cause(kind, message, model=model, calls=calls))
    for kind, days in sorted(day_counts.items()):
        label = _DAY_CAUSE_LABELS.get(kind, messages[kind])
        combined.append(Cause(kind, f"{label}: {days} day{'s' if days != 1 else ''}", days=days))
    return combined


# --- the merge: bills are the totals, per-call logs the shares ---------------------------------


@dataclass(frozen=True)
class BillSlice:
    """Bill amount for one provider, day, currency and dimension value (the bill's own attribution)."""

    provider: str
    day: date
    currency: str
    value: str  # "" when the bill line carries no attribution
    amount: Decimal


@dataclass(frozen=True)
class CallSlice:
    """Per-call cost for one provider, day, currency and dimension value."""

    provider: str
    day: date
    currency: str
    value: str
    cost: Decimal


@dataclass(frozen=True)
class AttributedSpend:
    provider: str
    currency: str
    value: str  # "" = unattributed
    amount: Decimal
    basis: str  # calls | bill | unattributed | calls_without_bill


def merge_bills_with_call_shares(bills: Iterable[BillSlice], calls: Iterable[CallSlice]) -> list[AttributedSpend]:
    """Spend by dimension value with the bill as the total, per provider and currency. Pure.

    The rules of `merge_by_day`, summed over the days.
    """
    bill_parts: dict[DayKey, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for bill in bills:
        bill_parts[(bill.provider, bill.day, bill.currency)][bill.value] += bill.amount
    call_parts: dict[DayKey, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for call in calls:
        call_parts[(call.provider, call.day, call.currency)][call.value] += call.cost
    totals: dict[tuple[str, str, str, str], Decimal] = defaultdict(Decimal)
    for (provider, _day, currency), value, amount, basis in merge_by_day(bill_parts, call_parts, UNATTRIBUTED):
        totals[(provider, currency, value, basis)] += amount
    return [
        AttributedSpend(provider, currency, value, amount, basis)
        for (provider, currency, value, basis), amount in sorted(totals.items())
    ]


DayKey = tuple[str, date, str]  # (canonical provider, day, currency): the grain of the merge
# A dimension value: one name, or a tuple of names when spend is split by several dimensions.
V = TypeVar("V", str, tuple[str, ...])


def merge_by_day(
    bills: Mapping[DayKey, Mapping[V, Decimal]], calls: Mapping[DayKey, Mapping[V, Decimal]], blank: V
) -> Iterator[tuple[DayKey, V, Decimal, str]]:
    """The one merge of bills and per-call logs, per provider, day and currency. Pure.

    * Logs and bill: each value gets its logged cost; the rest of the bill is one `blank` line
      (basis "unattributed"). When the logs exceed the bill (list price vs discounts), the bill is
      split in proportion to the logged costs instead, so the total is still the bill.
    * Bill, no logged cost: the bill lines' own attribution (tags, rules) is used (basis "bill").
    * Logs, no bill (bill lag, or a provider without a bill source): the logged costs
      (basis "calls_without_bill").
    The sum per provider, day and currency always equals the bill wherever a bill exists: nothing
    is counted twice.
    """
    for key in sorted(set(bills) | set(calls)):
        for value, amount, basis in _merge_day(bills.get(key), calls.get(key), blank):
            yield key, value, amount, basis


def _merge_day(
    bill: Mapping[V, Decimal] | None, calls: Mapping[V, Decimal] | None, blank: V
) -> list[tuple[V, Decimal, str]]:
    logged = {value: cost for value, cost in (calls or {}).items() if cost != 0}
    logged_total = sum(logged.values(), ZERO)
    if bill is None:
        return [(value, cost, "calls_without_bill") for value, cost in sorted(logged.items())]
    bill_total = sum(bill.values(), ZERO)
    if logged_total == 0:
        return [(value, amount, "unattributed" if value == blank else "bill") for value, amount in sorted(bill.items())]
    if logged_total <= bill_total:
        parts = [(value, cost, "calls") for value, cost in sorted(logged.items())]
        rest = bill_total - logged_total
        if rest:
            parts.append((blank, rest, "unattributed"))
        return parts
    return _scaled(logged, logged_total, bill_total)


def _scaled(logged: Mapping[V, Decimal], logged_total: Decimal, bill_total: Decimal) -> list[tuple[V, Decimal, str]]:
    """Shares of `bill_total` in proportion to `logged`; the rounding remainder goes to the largest."""
    shares = {value: to_ledger(bill_total * cost / logged_total) for value, cost in logged.items()}
    remainder = bill_total - sum(shares.values(), ZERO)
    if remainder:
        largest = max(shares, key=lambda value: (abs(logged[value]), value))
        shares[largest] += remainder
    return [(value, share, "calls") for value, share in sorted(shares.items())]
