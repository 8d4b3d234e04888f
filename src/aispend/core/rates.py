"""Date-effective exchange rates from a file the company maintains.

CSV with a header: currency,effective_from,rate
  EUR,2026-01-01,1.0412
  EUR,2026-02-01,1.0835
`rate` is units of the company currency (AISPEND_CURRENCY) for one unit of `currency`; a rate applies
from its date until the next one for that currency. A missing rate is an error naming the currency and
the date — never a silent 1.0.
"""

from __future__ import annotations

import bisect
import csv
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from aispend.core.errors import AispendError
from aispend.core.money import MoneyError, normalize_currency, parse_decimal

NO_FILE = "(no rates file)"


class RateError(AispendError, ValueError):
    """No usable rate: names the currency, the date and the file."""

    code = "no_rate"


@dataclass
class RateTable:
    company_currency: str
    source: str = NO_FILE
    _days: dict[str, list[date]] = field(default_factory=dict)
    _rates: dict[str, list[Decimal]] = field(default_factory=dict)

    def add(self, currency: str, effective_from: date, rate: Decimal) -> None:
        days = self._days.setdefault(currency, [])
        rates = self._rates.setdefault(currency, [])
        at = bisect.bisect_left(days, effective_from)
        if at < len(days) and days[at] == effective_from:
            raise RateError(f"{self.source}: two {currency} rates effective {effective_from}")
        days.insert(at, effective_from)
        rates.insert(at, rate)

    def rate(self, currency: str, day: date) -> Decimal:
        if currency == self.company_currency:
            return Decimal(1)
        days = self._days.get(currency)
        if not days and self.source == NO_FILE:
            raise RateError(
                f"no {currency} -> {self.company_currency} rate for {day.isoformat()}: no rates file is "
                "configured (set AISPEND_RATES_FILE to a CSV currency,effective_from,rate)"
            )
        if not days:
            raise RateError(
                f"no {currency} -> {self.company_currency} rate for {day.isoformat()}: "
                f"{self.source} has no {currency} rates; add a line '{currency},<effective_from>,<rate>'"
            )
        at = bisect.bisect_right(days, day) - 1
        if at < 0:
            raise RateError(
                f"no {currency} -> {self.company_currency} rate for {day.isoformat()}: the first {currency} "
                f"rate in {self.source} is effective {days[0].isoformat()}"
            )
        return self._rates[currency][at]

    def convert(self, amount: Decimal, currency: str, day: date) -> Decimal:
        return amount * self.rate(currency, day)


def load_rates(path: Path | None, company_currency: str) -> RateTable:
    table = RateTable(company_currency=company_currency, source=str(path) if path else NO_FILE)
    if path is None:
        return table
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RateError(f"cannot read rates file {path}: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    wanted = {"currency", "effective_from", "rate"}
    if not reader.fieldnames or not wanted <= {h.strip().lower() for h in reader.fieldnames}:
        raise RateError(f"{path}: the header must be currency,effective_from,rate (got {reader.fieldnames})")
    for number, raw in enumerate(reader, start=1):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        try:
            currency = normalize_currency(row["currency"], default="")
            day = date.fromisoformat(row["effective_from"])
            rate = parse_decimal(row["rate"], what="rate")
        except (MoneyError, ValueError) as exc:
            raise RateError(f"{path}: row {number}: {exc}") from None
        if rate <= 0:
            raise RateError(f"{path}: row {number}: rate must be positive, got {row['rate']!r}")
        table.add(currency, day, rate)
    return table
