"""Budget thresholds: a yellow and a red level in money per scope and period, checked against
actual-to-date and against the period-end forecast (a forecast breach is labelled as such)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from aispend.core.money import format_money
from aispend.core.rules.findings import SCOPE_KINDS, Finding, Level, Scope, money, severity
from aispend.core.rules.forecast import forecast_period
from aispend.core.rules.periods import PERIOD_KINDS, period_of
from aispend.core.rules.spend import SpendIndex
from aispend.core.timeutil import as_utc

RULE = "threshold"
# When only a budget is given: yellow at 80% of it, red at 100%.
DEFAULT_YELLOW_SHARE = Decimal("0.8")


@dataclass(frozen=True, slots=True)
class Threshold:
    scope: Scope
    period_kind: str
    yellow: Decimal | None
    red: Decimal | None
    currency: str

    def __post_init__(self) -> None:
        if self.scope.kind not in SCOPE_KINDS:
            raise ValueError(f"threshold scope must be one of {', '.join(SCOPE_KINDS)}, got {self.scope.kind!r}")
        if self.period_kind not in PERIOD_KINDS:
            raise ValueError(f"threshold period must be one of {', '.join(PERIOD_KINDS)}, got {self.period_kind!r}")
        if self.yellow is None and self.red is None:
            raise ValueError("a threshold needs a yellow level, a red level or both")
        for name, value in (("yellow", self.yellow), ("red", self.red)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} level must be above zero, got {value}")
        if self.yellow is not None and self.red is not None and self.yellow > self.red:
            raise ValueError(f"yellow level {self.yellow} is above red level {self.red}")


def levels_from_budget(budget: Decimal) -> tuple[Decimal, Decimal]:
    """The documented default when only a budget is given: yellow at 80%, red at 100%."""
    if budget <= 0:
        raise ValueError(f"budget must be above zero, got {budget}")
    return (budget * DEFAULT_YELLOW_SHARE, budget)


def level_for(amount: Decimal, threshold: Threshold) -> Level:
    if threshold.red is not None and amount >= threshold.red:
        return Level.RED
    if threshold.yellow is not None and amount >= threshold.yellow:
        return Level.YELLOW
    return Level.OK


def evaluate_thresholds(index: SpendIndex, thresholds: Iterable[Threshold], now: datetime) -> list[Finding]:
    """One finding per threshold for the period containing `now`. The index must cover the period
    and the 28 days before it (the forecast's history)."""
    today = as_utc(now).date()
    findings = []
    for threshold in thresholds:
        period = period_of(threshold.period_kind, today)
        daily = index.daily(threshold.scope)
        currency = threshold.currency
        index.currency(threshold.scope, expected=currency)  # refuses a mix with a clear message
        forecast = forecast_period(daily, period, now)
        limits = {"yellow": threshold.yellow, "red": threshold.red}
        numbers: dict[str, object] = {
            "period_kind": period.kind,
            "period_start": period.start.isoformat(),
            "period_end": period.end.isoformat(),
            "limits": {k: money(v, currency) if v is not None else None for k, v in limits.items()},
            "forecast": forecast.as_json(currency),
        }
        if forecast.method == "no-data" and not any(period.contains(d) for d in daily):
            findings.append(
                Finding(
                    RULE,
                    threshold.scope,
                    period.key,
                    Level.NO_DATA,
                    f"{threshold.scope.label}: no spend recorded yet in {period.key}",
                    numbers,
                    span=period,
                )
            )
            continue
        actual_level = level_for(forecast.actual_to_date, threshold)
        forecast_level = level_for(forecast.expected, threshold)
        level = actual_level if severity(actual_level) >= severity(forecast_level) else forecast_level
        basis = "actual" if severity(actual_level) >= severity(forecast_level) else "forecast"
        limit = threshold.red if level is Level.RED else threshold.yellow if level is Level.YELLOW else None
        spent = format_money(forecast.actual_to_date, currency)
        projected = (
            f"forecast {format_money(forecast.expected, currency)} "
            f"({format_money(forecast.low, currency)}–{format_money(forecast.high, currency)})"
        )
        if level is Level.OK:
            summary = f"{threshold.scope.label}: {spent} spent in {period.key}, {projected}, within budget"
        elif basis == "forecast":
            summary = (
                f"{threshold.scope.label}: forecast breach of the {level.value} level "
                f"{format_money(limit or Decimal(0), currency)} in {period.key}: {spent} spent, {projected}"
            )
        else:
            summary = (
                f"{threshold.scope.label}: {spent} spent in {period.key} is over the {level.value} level "
                f"{format_money(limit or Decimal(0), currency)}; {projected}"
            )
        numbers["actual_level"] = actual_level.value
        numbers["forecast_level"] = forecast_level.value
        findings.append(Finding(RULE, threshold.scope, period.key, level, summary, numbers, basis, period))
    return findings
