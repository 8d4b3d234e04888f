"""Alerts read as what they are. A forecast breach says the spend has not passed the threshold and
shows the forecast's range, as `aispend evaluate` does (issue: "Spent $107.10 of a $2,400.00
threshold" read as an actual breach); a change alert's Explain button shows the rules' decomposition."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from aispend.bot.alerts import alert_from_json, alert_from_notification, alert_to_json
from aispend.bot.render import render_alert
from aispend.bot.views import AlertState
from aispend.core.rules.findings import COMPANY
from aispend.core.rules.spend import SpendIndex, SpendRow
from aispend.core.rules.thresholds import Threshold, evaluate_thresholds


def _rows(start: date, n: int, cost: str, calls: int = 10) -> list[SpendRow]:
    return [
        SpendRow(
            day=start + timedelta(days=i),
            cost=Decimal(cost),
            currency="USD",
            provider="p",
            model="m",
            workflow="support",
            team="t",
            calls=calls,
            input_tokens=1000 * calls,
            cache_read_tokens=0,
        )
        for i in range(n)
    ]


def _notification(finding_json: dict[str, object]) -> dict[str, object]:
    return {
        "kind": "alert",
        "rule": "threshold",
        "scope": {"kind": "company", "key": "company"},
        "period": finding_json["period"],
        "level": finding_json["level"],
        "owner": "",
        "text": finding_json["summary"],
        "finding": finding_json,
    }


def test_a_forecast_breach_is_labelled_a_forecast_with_its_range() -> None:
    now = datetime(2026, 11, 4, 12, tzinfo=UTC)
    history = _rows(date(2026, 10, 7), 28, "30") + _rows(date(2026, 11, 1), 3, "35.70")
    threshold = Threshold(COMPANY, "month", Decimal("800"), Decimal("2400"), "USD")
    [finding] = evaluate_thresholds(SpendIndex(history, ["company"]), [threshold], now)
    assert finding.basis == "forecast"

    alert = alert_from_notification(_notification(finding.as_json()), now, "USD")
    text = render_alert(alert, AlertState()).text + str(render_alert(alert, AlertState()).blocks)

    assert "(forecast)" in text and "on course to pass" in text
    assert "has not passed the threshold yet" in text
    numbers = finding.numbers["forecast"]
    low, high = numbers["low"]["amount"], numbers["high"]["amount"]  # type: ignore[index]
    assert f"range ${Decimal(low):,.2f}–${Decimal(high):,.2f}" in text
    assert alert_from_json(alert_to_json(alert)) == alert  # what the alert message is re-rendered from


def test_an_actual_breach_still_reads_as_spent() -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    rows = _rows(date(2026, 11, 1), 19, "150")
    threshold = Threshold(COMPANY, "month", Decimal("800"), Decimal("2400"), "USD")
    [finding] = evaluate_thresholds(SpendIndex(rows, ["company"]), [threshold], now)
    assert finding.basis == "actual"

    message = render_alert(alert_from_notification(_notification(finding.as_json()), now, "USD"), AlertState())

    assert "Red alert: company over its monthly threshold" in message.text + str(message.blocks)
    assert "forecast)" not in message.text + str(message.blocks)


def test_the_explain_button_explains_a_change_alert_from_the_rules_decomposition() -> None:
    from aispend.bot.render import render_explain
    from aispend.core.rules.change import ChangePolicy, evaluate_changes

    rows = _rows(date(2026, 11, 9), 7, "10", 10) + _rows(date(2026, 11, 16), 7, "20", 20)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    [finding] = evaluate_changes(rows, now, ChangePolicy("week"), ["company"])
    note = _notification(finding.as_json()) | {"rule": finding.rule}

    alert = alert_from_notification(note, now, "USD")
    reply = render_explain(alert).text + str(render_explain(alert).blocks)

    assert "No change decomposition" not in reply
    assert "volume (calls and tokens per call): $70.00" in reply
    assert "workflow support: $70.00 — $70.00 → $140.00" in reply
    assert alert_from_json(alert_to_json(alert)).explanation == alert.explanation
