"""The one definition of AI spend: every report, Slack view and governance rule reads `spend()`.

* Bills are the system of record: where a provider's or cloud's bill covers a day, the bill is the
  total and the per-call logs give the shares (the rest is "" — unattributed); where no bill covers
  the day, the per-call cost counts (docs/reconciliation.md, `rules.reconciliation.merge_by_day`).
* The bill figure is the basis the company chose (AISPEND_COST_BASIS): `billed` (BilledCost, what is
  invoiced that day) or `amortized` (EffectiveCost: commitment purchases spread over the usage
  they cover; a line without one counts its BilledCost).
* Every amount is converted to the company currency at its day's rate (AISPEND_RATES_FILE,
  `core.rates`) before bills and logs are merged, so that a bill in EUR and logs in USD for the same
  day are one figure, not two. The stored rows keep their own amount and currency. An amount whose
  rate is missing is left out of the figures and listed (`Spend.unconverted`) with the reason,
  naming currency and day: never a silent 1.0, never a crash of the report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, or_, select

from aispend.core.ledger.models import CallRollupDaily, CostLine, table_of
from aispend.core.money import ZERO, format_money, to_ledger
from aispend.core.rates import RateError, RateTable, load_rates
from aispend.core.rules.reconciliation import DayKey, merge_by_day, provider_key
from aispend.core.timeutil import days_label

if TYPE_CHECKING:
    from aispend.core.settings import Settings

SPEND_DIMENSIONS = ("workflow", "team", "model", "provider", "customer", "feature")
BASES = ("billed", "amortized")
# What the logs count beside the money (`Spend.counts`): calls and tokens, for the change rule's why.
COUNTS = (
    "calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "unpriced_calls",
    "zero_cost_calls",
)

_COST = table_of(CostLine)
_ROLLUP = table_of(CallRollupDaily)  # day-grained: the daily rollups (same figures as the hourly ones)


@dataclass(frozen=True)
class SpendPolicy:
    """How spend is counted: the company currency, the bill basis and the dated rates."""

    currency: str = "USD"
    basis: str = "billed"  # billed | amortized
    rates: RateTable | None = None

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise ValueError(f"AISPEND_COST_BASIS must be billed or amortized, got {self.basis!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> SpendPolicy:
        """Reads the rates file (a broken file is a RateError naming it and the row)."""
        return cls(settings.currency, settings.cost_basis, load_rates(settings.rates_file, settings.currency))

    def rate(self, currency: str, day: date) -> Decimal:
        if currency == self.currency:
            return Decimal(1)
        return (self.rates or RateTable(self.currency)).rate(currency, day)


@dataclass(frozen=True, slots=True)
class SpendLine:
    day: date
    values: tuple[str, ...]  # one per dimension asked for, in that order ("" = unattributed)
    amount: Decimal  # in the company currency
    basis: str  # calls | bill | unattributed | calls_without_bill


@dataclass(frozen=True, slots=True)
class Unconverted:
    """An amount left out of the figures because no rate converts it."""

    currency: str
    day: date
    amount: Decimal
    reason: str


@dataclass
class Spend:
    currency: str
    basis: str
    dims: tuple[str, ...]
    lines: list[SpendLine]
    converted: tuple[str, ...] = ()  # other currencies whose amounts are in the figures, converted
    unconverted: list[Unconverted] = field(default_factory=list)
    # With counts=True: the logs' COUNTS per (day, values), whatever their currency (counts are not money).
    counts: dict[tuple[date, tuple[str, ...]], tuple[int, ...]] = field(default_factory=dict)

    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    def by(self, *dims: str) -> dict[tuple[str, ...], Decimal]:
        """Amounts summed by some of the dimensions (in that order), over every day."""
        at = [self.dims.index(d) for d in dims]
        out: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
        for line in self.lines:
            out[tuple(line.values[i] for i in at)] += line.amount
        return dict(out)

    def count_by(self, name: str) -> dict[tuple[str, ...], int]:
        """One of the logs' COUNTS (asked for with counts=True) per combination of values, over every day."""
        at = COUNTS.index(name)
        out: dict[tuple[str, ...], int] = defaultdict(int)
        for (_day, values), numbers in self.counts.items():
            out[values] += numbers[at]
        return dict(out)

    def count(self, name: str) -> int:
        return sum(self.count_by(name).values())

    def notes(self) -> list[str]:
        """What a reader must be told about these figures (conversions, amounts left out)."""
        out = []
        if self.converted:
            out.append(
                f"Includes amounts converted to {self.currency} from {', '.join(self.converted)} at dated rates."
            )
        missing: dict[str, list[Unconverted]] = defaultdict(list)
        for item in self.unconverted:
            missing[item.currency].append(item)
        for currency, items in sorted(missing.items()):
            amount = format_money(sum((i.amount for i in items), ZERO), currency)
            days = days_label([i.day for i in items])
            out.append(f"Not included: {amount} in {currency} ({days}): {items[0].reason}.")
        return out


def bill_figure(basis: str) -> Any:
    """The bill column that is spend on this basis (reconciliation compares the logs with the same)."""
    if basis == "amortized":
        return func.coalesce(_COST.c.effective_cost, _COST.c.billed_cost)
    if basis == "billed":
        return _COST.c.billed_cost
    raise ValueError(f"AISPEND_COST_BASIS must be billed or amortized, got {basis!r}")


def check_dimensions(dims: Sequence[str]) -> None:
    unknown = [d for d in dims if d not in SPEND_DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension {unknown[0]!r}; use one of: {', '.join(SPEND_DIMENSIONS)}")


def spend(
    conn: Connection,
    *,
    start: date,
    end: date,
    dims: Sequence[str] = (),
    policy: SpendPolicy,
    where: Mapping[str, str] | None = None,
    daily: bool = True,
    counts: bool = False,
) -> Spend:
    """AI spend per UTC day in [start, end) split by `dims`, in the company currency (with
    daily=False, one line per key for the whole range, dated `start`).

    `where` keeps the lines whose dimension has that value (applied after the merge: the shares of a
    day depend on every logged call of it, not only the ones kept).
    """
    where = dict(where or {})
    check_dimensions([*dims, *where])
    keys = tuple(dict.fromkeys([*dims, *where]))  # the dimensions read, in a fixed order
    merged = tuple(k for k in keys if k != "provider")  # provider is part of the merge's grain
    blank = ("",) * len(merged)
    rates = _Converter(policy)
    names: dict[tuple[str, str], str] = {}

    def canonical(provider: str, service: str = "") -> str:
        if (provider, service) not in names:
            names[(provider, service)] = provider_key(provider, service)
        return names[(provider, service)]

    bill_amount = bill_figure(policy.basis)
    bill_cols = [_COST.c[k] for k in merged]
    bill_query = (
        select(
            _COST.c.provider,
            _COST.c.service_name,
            _COST.c.charge_day,
            _COST.c.billing_currency,
            *bill_cols,
            func.sum(bill_amount),
        )
        .where(_COST.c.is_ai.is_(True), _COST.c.charge_day >= start, _COST.c.charge_day < end)
        .group_by(_COST.c.provider, _COST.c.service_name, _COST.c.charge_day, _COST.c.billing_currency, *bill_cols)
    )
    bills: dict[DayKey, dict[tuple[str, ...], Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for provider, service, day, currency, *values, amount in conn.execute(bill_query):
        converted = rates.convert(amount or ZERO, currency, day)
        if converted is not None:
            bills[(canonical(provider, service), day, policy.currency)][_values(values)] += converted

    # Only the days a bill covers, and amounts in another currency (converted per day), need the
    # per-day merge; the rest is the logged cost as is, summed in SQL (by day only when asked).
    in_range = and_(_ROLLUP.c.day >= start, _ROLLUP.c.day < end)
    billed = {provider for provider, _day, _currency in bills}
    merge_these: Any = _ROLLUP.c.currency != policy.currency
    if billed:
        logged_as = [p for (p,) in conn.execute(select(_ROLLUP.c.provider).where(in_range).distinct())]
        merge_these = or_(_ROLLUP.c.provider.in_([p for p in logged_as if canonical(p) in billed]), merge_these)
    call_cols = [_ROLLUP.c[k] for k in merged]
    measures = [func.sum(_ROLLUP.c[m]) for m in COUNTS] if counts else []
    wanted = [keys.index(d) for d in dims]
    checks = [(keys.index(d), value) for d, value in where.items()]
    lines: dict[tuple[date, tuple[str, ...], str], Decimal] = defaultdict(Decimal)
    counted: dict[tuple[date, tuple[str, ...]], list[int]] = {}

    def kept(full: tuple[str, ...]) -> tuple[str, ...] | None:
        return tuple(full[i] for i in wanted) if all(full[i] == v for i, v in checks) else None

    def count(day: date, full: tuple[str, ...], numbers: Sequence[Any]) -> None:
        shown = kept(full)
        if shown is not None and numbers:
            acc = counted.setdefault((day if daily else start, shown), [0] * len(COUNTS))
            for i, n in enumerate(numbers):
                acc[i] += int(n or 0)

    width = len(merged)
    call_query = (
        select(_ROLLUP.c.provider, _ROLLUP.c.day, _ROLLUP.c.currency, *call_cols, func.sum(_ROLLUP.c.cost), *measures)
        .where(in_range, merge_these)
        .group_by(_ROLLUP.c.provider, _ROLLUP.c.day, _ROLLUP.c.currency, *call_cols)
    )
    calls: dict[DayKey, dict[tuple[str, ...], Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for provider, day, currency, *rest in conn.execute(call_query):
        named, cost, numbers = _values(rest[:width]), rest[width], rest[width + 1 :]
        count(day, _with_provider(keys, named, canonical(provider)), numbers)
        converted = rates.convert(cost or ZERO, currency, day)
        if converted is not None:
            calls[(canonical(provider), day, policy.currency)][named] += converted

    for (provider, day, _currency), value, amount, basis in merge_by_day(bills, calls, blank):
        shown = kept(_with_provider(keys, value, provider))
        if shown is not None:
            lines[(day if daily else start, shown, basis)] += amount
    day_col = [_ROLLUP.c.day] if daily else []
    as_is = (
        select(_ROLLUP.c.provider, *day_col, *call_cols, func.sum(_ROLLUP.c.cost), *measures)
        .where(in_range, ~merge_these)
        .group_by(_ROLLUP.c.provider, *day_col, *call_cols)
    )
    for provider, *rest in conn.execute(as_is):
        day, rest = (rest[0], rest[1:]) if daily else (start, rest)
        full = _with_provider(keys, _values(rest[:width]), canonical(provider))
        cost, numbers = rest[width], rest[width + 1 :]
        count(day, full, numbers)
        shown = kept(full)
        if cost and shown is not None:
            lines[(day, shown, "calls_without_bill")] += cost
    return Spend(
        currency=policy.currency,
        basis=policy.basis,
        dims=tuple(dims),
        lines=[SpendLine(day, values, amount, basis) for (day, values, basis), amount in sorted(lines.items())],
        converted=tuple(sorted(rates.converted)),
        unconverted=rates.unconverted(),
        counts={key: tuple(values) for key, values in counted.items()},
    )


def currency_warnings(conn: Connection, policy: SpendPolicy) -> list[str]:
    """One line per other currency in the ledger: converted at dated rates, or, for the days with no
    rate, left out of every figure until the rates file has one (what an import says after it ran)."""
    days: dict[str, set[date]] = defaultdict(set)
    for table, day, currency in (
        (_ROLLUP, _ROLLUP.c.day, _ROLLUP.c.currency),
        (_COST, _COST.c.charge_day, _COST.c.billing_currency),
    ):
        query = select(currency, day).where(currency != policy.currency).distinct()
        if table is _COST:
            query = query.where(_COST.c.is_ai.is_(True))
        for code, when in conn.execute(query):
            days[code].add(when)
    out = []
    for code, seen in sorted(days.items()):
        missing = []
        for when in sorted(seen):
            try:
                policy.rate(code, when)
            except RateError as exc:
                missing.append((when, str(exc)))
        if not missing:
            out.append(f"Amounts in {code} are converted to {policy.currency} at dated rates (AISPEND_RATES_FILE).")
            continue
        span = days_label([when for when, _ in missing])
        out.append(
            f"warning: amounts in {code} on {span} have no {code} -> {policy.currency} rate and are left out of "
            f"every report and alert until AISPEND_RATES_FILE has one: {missing[0][1]}"
        )
    return out


def _values(values: list[Any]) -> tuple[str, ...]:
    return tuple(v or "" for v in values)


def _with_provider(keys: tuple[str, ...], merged: tuple[str, ...], provider: str) -> tuple[str, ...]:
    if "provider" not in keys:
        return merged
    at = keys.index("provider")
    return (*merged[:at], provider, *merged[at:])


class _Converter:
    """Converts amounts with the policy's dated rates, once per currency and day; remembers misses."""

    def __init__(self, policy: SpendPolicy) -> None:
        self.policy = policy
        self.converted: set[str] = set()
        self._rates: dict[tuple[str, date], Decimal | str] = {}
        self._missed: dict[tuple[str, date], Decimal] = defaultdict(Decimal)

    def convert(self, amount: Decimal, currency: str, day: date) -> Decimal | None:
        if currency == self.policy.currency:
            return amount
        key = (currency, day)
        if key not in self._rates:
            try:
                self._rates[key] = self.policy.rate(currency, day)
            except RateError as exc:
                self._rates[key] = str(exc)
        rate = self._rates[key]
        if isinstance(rate, str):
            self._missed[key] += amount
            return None
        if amount:
            self.converted.add(currency)
        return to_ledger(amount * rate)

    def unconverted(self) -> list[Unconverted]:
        return [
            Unconverted(currency, day, amount, str(self._rates[(currency, day)]))
            for (currency, day), amount in sorted(self._missed.items())
            if amount
        ]
