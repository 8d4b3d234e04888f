"""Period-end spend forecast: daily run rate with weekday seasonality, a range, and cold-start rules.

Method (documented in docs/governance.md):

* actual-to-date = spend from the period start up to and including today (today may be partial).
* history = the complete days before today, at most 28, starting at the scope's first day with
  spend (a new workflow's history starts the day it appeared; missing days after that are zeros).
* run rate = mean of the last 7 history days, after removing weekday seasonality.
* weekday seasonality only with >= 14 history days (every weekday seen twice): factor(weekday) =
  mean spend on that weekday / mean spend of all history days; otherwise every factor is 1.
* expected = actual + run rate x (factor(today) x share of today still to come + sum of factors of
  the remaining days).
* range (about 80%): expected ± 1.28 x s x sqrt(k + k²/n), s = standard deviation of the
  deseasonalised history, k = days still to come, n = days in the run rate.

Cold start (rules, not a model): no complete day yet -> today's spend so far scaled to a full day
(needs at least one hour of the day); fewer than 3 history days -> plain mean and a ±50% range on
the remaining spend; fewer than 7 -> plain mean and at least ±25%.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from aispend.core.money import money_json
from aispend.core.rules.periods import Period
from aispend.core.timeutil import as_utc, start_of_day

ZERO = Decimal(0)
ONE = Decimal(1)
HISTORY_DAYS = 28
RATE_DAYS = 7
SEASONALITY_MIN_DAYS = 14
Z_80 = Decimal("1.2816")
_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Forecast:
    actual_to_date: Decimal
    expected: Decimal
    low: Decimal
    high: Decimal
    run_rate: Decimal  # per average day, seasonality removed
    method: str  # closed | no-data | cold-start-today | cold-start-mean | run-rate | run-rate-weekday
    history_days: int

    def as_json(self, currency: str) -> dict[str, object]:
        return {
            "actual_to_date": money_json(self.actual_to_date, currency),
            "expected": money_json(self.expected, currency),
            "low": money_json(self.low, currency),
            "high": money_json(self.high, currency),
            "run_rate_per_day": money_json(self.run_rate, currency),
            "method": self.method,
            "history_days": self.history_days,
        }


def _q(value: Decimal) -> Decimal:
    return value.quantize(_QUANTUM)


def weekday_factors(history: Mapping[date, Decimal]) -> dict[int, Decimal]:
    """Weekday -> factor (mean of that weekday / overall mean); all 1 when seasonality cannot be estimated."""
    flat = {wd: ONE for wd in range(7)}
    if len(history) < SEASONALITY_MIN_DAYS:
        return flat
    overall = sum(history.values(), ZERO) / len(history)
    if overall <= 0:
        return flat
    sums: dict[int, Decimal] = {wd: ZERO for wd in range(7)}
    counts: dict[int, int] = {wd: 0 for wd in range(7)}
    for day, amount in history.items():
        sums[day.weekday()] += amount
        counts[day.weekday()] += 1
    if min(counts.values()) < 2:
        return flat
    factors = {wd: (sums[wd] / counts[wd]) / overall for wd in range(7)}
    # A weekday with no (or negative) spend keeps a zero factor: nothing is forecast for it.
    return {wd: max(f, ZERO) for wd, f in factors.items()}


def forecast_period(daily: Mapping[date, Decimal], period: Period, now: datetime) -> Forecast:
    """Forecast the spend of `period` from daily spend (any days; those outside are history or ignored)."""
    now = as_utc(now)
    today = now.date()
    actual = sum((v for d, v in daily.items() if period.start <= d <= today and d < period.end), ZERO)
    if today >= period.end:
        return Forecast(actual, actual, actual, actual, ZERO, "closed", 0)

    first_seen = min((d for d, v in daily.items() if v != 0), default=None)
    history: dict[date, Decimal] = {}
    if first_seen is not None:
        start = max(first_seen, today - timedelta(days=HISTORY_DAYS))
        day = start
        while day < today:
            history[day] = daily.get(day, ZERO)
            day += timedelta(days=1)

    # What is still to come, in "days": the rest of today, then each later day of the period.
    today_left = ZERO
    if period.start <= today:
        elapsed = Decimal((now - start_of_day(today)).total_seconds()) / Decimal(86400)
        today_left = ONE - elapsed
    future_days = [period.start + timedelta(days=i) for i in range(period.days)]
    future_days = [d for d in future_days if d > today]
    remaining_days = today_left + len(future_days)

    n = len(history)
    factors = weekday_factors(history)
    if n == 0:
        spent_today = daily.get(today, ZERO)
        elapsed = ONE - today_left
        if spent_today == 0 or elapsed < Decimal(1) / 24:
            return Forecast(_q(actual), _q(actual), _q(actual), _q(actual), ZERO, "no-data", 0)
        rate = spent_today / elapsed
        method = "cold-start-today"
    else:
        recent = sorted(history)[-RATE_DAYS:]
        rate = sum((history[d] / factors[d.weekday()] if factors[d.weekday()] else ZERO for d in recent), ZERO)
        rate = rate / len(recent)
        method = "cold-start-mean" if n < RATE_DAYS else "run-rate-weekday" if n >= SEASONALITY_MIN_DAYS else "run-rate"

    weight = factors[today.weekday()] * today_left + sum((factors[d.weekday()] for d in future_days), ZERO)
    rest = rate * weight
    expected = actual + rest

    if n < 3:
        spread = abs(rest) / 2
    else:
        deseasonalised = [history[d] / factors[d.weekday()] for d in history if factors[d.weekday()]]
        mean = sum(deseasonalised, ZERO) / len(deseasonalised) if deseasonalised else ZERO
        var = (
            sum(((x - mean) ** 2 for x in deseasonalised), ZERO) / (len(deseasonalised) - 1)
            if len(deseasonalised) > 1
            else ZERO
        )
        used = min(n, RATE_DAYS)
        k = remaining_days
        spread = Z_80 * var.sqrt() * (k + k * k / used).sqrt()
        if n < RATE_DAYS:
            spread = max(spread, abs(rest) / 4)
    low = expected - spread
    if rate >= 0:
        low = max(low, actual)  # spend to date is already spent (credits aside)
    return Forecast(_q(actual), _q(expected), _q(low), _q(expected + spread), _q(rate), method, n)
