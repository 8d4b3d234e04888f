"""Revenue and gross margin per month, feature and customer (`gov_feature_revenue`): written by
`aispend ingest revenue`, read by unit economics (evaluation and `aispend report unit-economics`).

Amounts are stored in their own currency and converted to the company currency when read, at the
dated rate (AISPEND_RATES_FILE) effective on the first day of the month — the rate a monthly
figure is booked at. A figure whose rate is missing is left out, and said so: never a silent 1.0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, select
from sqlmodel import Session, col

from aispend.core.governance.models import FeatureRevenue
from aispend.core.ledger.models import table_of
from aispend.core.ledger.spend import SpendPolicy
from aispend.core.money import ZERO, format_money, to_ledger
from aispend.core.rates import RateError
from aispend.core.rules.unit_economics import FeatureRevenue as FeatureRevenueIn
from aispend.core.timeutil import as_utc

REVENUE = table_of(FeatureRevenue).c


@dataclass(frozen=True, slots=True)
class RevenueFigure:
    """One figure to store: a month (first day), a feature, a customer ("" = none), in its own currency."""

    month: date
    feature: str
    customer: str
    revenue: Decimal
    gross_margin: Decimal | None
    currency: str

    @property
    def key(self) -> tuple[date, str, str]:
        return (self.month, self.feature, self.customer)

    def label(self) -> str:
        who = f" customer {self.customer}" if self.customer else ""
        return f"{self.month:%Y-%m} feature {self.feature}{who}"

    def amounts(self) -> str:
        margin = format_money(self.gross_margin, self.currency) if self.gross_margin is not None else "-"
        return f"revenue {format_money(self.revenue, self.currency)}, gross margin {margin}"


@dataclass(frozen=True, slots=True)
class Restatement:
    before: RevenueFigure
    after: RevenueFigure

    def __str__(self) -> str:
        return f"restated {self.after.label()}: {self.before.amounts()} -> {self.after.amounts()}"


@dataclass
class RevenueWrite:
    inserted: int = 0
    unchanged: int = 0
    restated: list[Restatement] = field(default_factory=list)


def _figure(row: FeatureRevenue) -> RevenueFigure:
    return RevenueFigure(row.month, row.feature, row.customer, row.revenue, row.gross_margin, row.currency)


def _same(a: RevenueFigure, b: RevenueFigure) -> bool:
    def stored(value: Decimal | None) -> Decimal | None:
        return None if value is None else to_ledger(value)

    return (
        a.currency == b.currency
        and stored(a.revenue) == stored(b.revenue)
        and stored(a.gross_margin) == stored(b.gross_margin)
    )


def write_revenue(session: Session, figures: Iterable[RevenueFigure], *, now: datetime) -> RevenueWrite:
    """Insert new figures, replace restated ones (same month, feature and customer, other amounts or
    currency), leave identical ones untouched: importing the same file again changes nothing."""
    figures = list(figures)
    result = RevenueWrite()
    if not figures:
        return result
    months = sorted({f.month for f in figures})
    existing = {
        (r.month, r.feature, r.customer): r
        for r in session.execute(select(FeatureRevenue).where(col(FeatureRevenue.month).in_(months))).scalars()
    }
    for figure in figures:
        row = existing.get(figure.key)
        if row is None:
            session.add(
                FeatureRevenue(
                    feature=figure.feature,
                    customer=figure.customer,
                    month=figure.month,
                    revenue=figure.revenue,
                    gross_margin=figure.gross_margin,
                    currency=figure.currency,
                    updated_at=as_utc(now),
                )
            )
            result.inserted += 1
            continue
        before = _figure(row)
        if _same(before, figure):
            result.unchanged += 1
            continue
        row.revenue, row.gross_margin, row.currency = figure.revenue, figure.gross_margin, figure.currency
        row.updated_at = as_utc(now)
        result.restated.append(Restatement(before, figure))
    session.flush()
    return result


@dataclass(frozen=True, slots=True)
class UnconvertedRevenue:
    feature: str
    customer: str
    currency: str
    reason: str

    def __str__(self) -> str:
        who = f" (customer {self.customer})" if self.customer else ""
        return f"revenue of feature {self.feature}{who} in {self.currency} is left out: {self.reason}"


@dataclass
class MonthRevenue:
    """A month's revenue per feature in the company currency (customers summed), and what is not in it."""

    currency: str
    by_feature: dict[str, FeatureRevenueIn]
    converted_from: tuple[str, ...] = ()
    unconverted: list[UnconvertedRevenue] = field(default_factory=list)
    customers: dict[str, int] = field(default_factory=dict)  # feature -> rows with a customer

    def notes(self) -> list[str]:
        out = []
        if self.converted_from:
            out.append(
                f"Revenue converted to {self.currency} from {', '.join(self.converted_from)} at the rate effective on "
                "the month's first day."
            )
        out.extend(f"Not included: {u}." for u in self.unconverted)
        return out


def month_revenue(conn: Connection | Session, month: date, *, policy: SpendPolicy) -> MonthRevenue:
    """The month's figures (month = its first day), converted with the policy's dated rates.

    A feature's revenue is the sum of its rows (a row without a customer is the part not split by
    customer); its gross margin is known only when every row gives one. A feature with any row
    that cannot be converted is left out whole (a part of its revenue would overstate its ratio)."""
    stmt = select(REVENUE.feature, REVENUE.customer, REVENUE.revenue, REVENUE.gross_margin, REVENUE.currency).where(
        REVENUE.month == month
    )
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    margin: dict[str, Decimal | None] = {}
    customers: dict[str, int] = defaultdict(int)
    converted: set[str] = set()
    missing: list[UnconvertedRevenue] = []
    for feature, customer, amount, gross_margin, currency in conn.execute(stmt):
        try:
            rate = policy.rate(currency, month)
        except RateError as exc:
            missing.append(UnconvertedRevenue(feature, customer, currency, str(exc)))
            continue
        if currency != policy.currency:
            converted.add(currency)
        revenue[feature] += to_ledger(amount * rate)
        before = margin.get(feature, ZERO)
        margin[feature] = None if before is None or gross_margin is None else before + to_ledger(gross_margin * rate)
        if customer:
            customers[feature] += 1
    left_out = {u.feature for u in missing}
    return MonthRevenue(
        currency=policy.currency,
        by_feature={
            f: FeatureRevenueIn(amount, margin[f], policy.currency)
            for f, amount in revenue.items()
            if f not in left_out
        },
        converted_from=tuple(sorted(converted)),
        unconverted=missing,
        customers=dict(customers),
    )


def currency_notes(figures: Iterable[RevenueFigure], policy: SpendPolicy) -> list[str]:
    """After an import: each other currency is converted at the month's first-day rate, or — for the
    months with no rate — left out of unit economics until the rates file has one ("warning: ...")."""
    months: dict[str, set[date]] = defaultdict(set)
    for figure in figures:
        if figure.currency != policy.currency:
            months[figure.currency].add(figure.month)
    out = []
    for currency, seen in sorted(months.items()):
        missing = []
        for month in sorted(seen):
            try:
                policy.rate(currency, month)
            except RateError as exc:
                missing.append((month, str(exc)))
        if not missing:
            out.append(
                f"Revenue in {currency} is converted to {policy.currency} at the rate effective on each month's "
                "first day (AISPEND_RATES_FILE)."
            )
            continue
        shown = ", ".join(f"{m:%Y-%m}" for m, _ in missing)
        out.append(
            f"warning: revenue in {currency} for {shown} has no {currency} -> {policy.currency} rate and is left out "
            f"of unit economics until AISPEND_RATES_FILE has one: {missing[0][1]}"
        )
    return out
