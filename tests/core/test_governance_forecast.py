"""The forecast on synthetic series whose answers are known."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from aispend.core.rules.forecast import forecast_period, weekday_factors
from aispend.core.rules.periods import period_of

D = Decimal
NOV = period_of("month", date(2026, 11, 1))  # 30 days, starts on a Sunday


def series(start: date, days: int, amount: callable) -> dict[date, Decimal]:  # type: ignore[valid-type]
    return {start + timedelta(days=i): amount(start + timedelta(days=i)) for i in range(days)}


def weekday_pattern(day: date) -> Decimal:
    return D(4) if day.weekday() >= 5 else D(10)


def test_constant_rate_forecasts_exactly_with_a_zero_width_range() -> None:
    daily = series(date(2026, 10, 1), 45, lambda d: D(10))  # Oct 1 .. Nov 14
    f = forecast_period(daily, NOV, datetime(2026, 11, 15, tzinfo=UTC))  # start of Nov 15, nothing spent today
    assert f.actual_to_date == D(140)
    assert f.expected == D(300)
    assert f.low == f.high == D(300)
    assert f.method == "run-rate-weekday"


def test_weekday_seasonality_is_learned_and_forecast_exactly() -> None:
    daily = series(date(2026, 10, 4), 42, weekday_pattern)  # Oct 4 .. Nov 14: six whole weeks
    f = forecast_period(daily, NOV, datetime(2026, 11, 15, tzinfo=UTC))
    expected = sum((weekday_pattern(d) for d in NOV.all_days()), D(0))
    assert f.expected == expected.quantize(D("0.000001"))
    assert f.low == f.high == f.expected  # the pattern explains every day: no spread


def test_weekday_factors_need_two_weeks_of_history() -> None:
    short = series(date(2026, 11, 1), 13, weekday_pattern)
    assert set(weekday_factors(short).values()) == {D(1)}
    long = series(date(2026, 11, 1), 14, weekday_pattern)
    factors = weekday_factors(long)
    assert factors[5] < D(1) < factors[0]


@pytest.mark.parametrize(
    ("daily", "now", "expected", "method"),
    [
        # first day of a brand-new workflow: today's spend so far scaled to a full day
        (
            {date(2026, 11, 10): D(6)},
            datetime(2026, 11, 10, 12, tzinfo=UTC),
            D(6) + D(6) + D(12) * 20,
            "cold-start-today",
        ),
        # nothing yet
        ({}, datetime(2026, 11, 10, 12, tzinfo=UTC), D(0), "no-data"),
        # a workflow that appeared mid-period, two complete days: plain mean of those days
        (
            {date(2026, 11, 20): D(10), date(2026, 11, 21): D(20)},
            datetime(2026, 11, 22, tzinfo=UTC),
            D(30) + D(15) * 9,
            "cold-start-mean",
        ),
        # credits: negative days lower the rate
        (
            series(date(2026, 11, 1), 7, lambda d: D(-2)),
            datetime(2026, 11, 8, tzinfo=UTC),
            D(-60),
            "run-rate",
        ),
        # the period is over: the forecast is the actual
        (series(date(2026, 11, 1), 30, lambda d: D(1)), datetime(2026, 12, 3, tzinfo=UTC), D(30), "closed"),
    ],
)
def test_cold_start_rules(daily: dict[date, Decimal], now: datetime, expected: Decimal, method: str) -> None:
    f = forecast_period(daily, NOV, now)
    assert f.method == method
    assert f.expected == expected
    assert f.low <= f.expected <= f.high


def test_first_day_of_the_period_uses_last_months_history() -> None:
    daily = series(date(2026, 10, 1), 31, lambda d: D(10))
    f = forecast_period(daily, NOV, datetime(2026, 11, 1, 0, 0, tzinfo=UTC))
    assert f.actual_to_date == 0
    assert f.expected == D(300)


def test_range_widens_with_noise_and_contains_the_truth() -> None:
    noisy = series(date(2026, 10, 18), 28, lambda d: D(10) + (D(3) if d.day % 2 else D(-3)))
    f = forecast_period(noisy, NOV, datetime(2026, 11, 15, tzinfo=UTC))
    assert f.low < f.expected < f.high
    truth = sum((noisy.get(d, D(10)) for d in NOV.all_days() if d < date(2026, 11, 15)), D(0)) + D(10) * 16
    assert f.low <= truth <= f.high
