"""Ledger adapters: the bot's queries over real rollups, and the report layer's JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Engine

from aispend.bot.data import LedgerData, current_period, top_from_report_json
from aispend.core.money import Money, percent
from aispend.core.rules.periods import Period
from tests.slack_seed import seed, seed_openai_bills

NOW = datetime(2026, 11, 25, 10, tzinfo=UTC)


def test_current_period_is_like_for_like() -> None:
    week, compared, previous = current_period("week", date(2026, 11, 25))  # a Wednesday
    assert week == Period("week", date(2026, 11, 23), date(2026, 11, 26), complete=False)
    assert compared == Period("week", date(2026, 11, 23), date(2026, 11, 25), complete=True)
    assert previous == Period("week", date(2026, 11, 16), date(2026, 11, 18), complete=True)
    month, compared, previous = current_period("month", date(2026, 11, 30))  # 29 complete days, a Monday
    assert month.complete and compared == Period("month", date(2026, 11, 1), date(2026, 11, 30), complete=True)
    assert previous == Period("month", date(2026, 9, 27), date(2026, 10, 26), complete=True)  # five weeks back
    assert current_period("month", date(2026, 12, 1))[1:] == (None, None)  # nothing complete to compare


def test_top_for_ranks_with_exact_money(engine: Engine) -> None:
    seed(engine, date(2026, 11, 9), 14, NOW)  # two weeks, cost per day = base + offset / 10
    report = LedgerData(engine).top_for("week", date(2026, 11, 18), today=date(2026, 11, 25))
    assert [r.key for r in report.rows] == ["support-triage", "code-review", "sales-emails"]
    first = report.rows[0]
    assert first.cost == Money(sum((Decimal(40) + Decimal(o) / 10 for o in range(7, 14)), Decimal(0)), "USD")
    assert first.previous_cost == Money(sum((Decimal(40) + Decimal(o) / 10 for o in range(7)), Decimal(0)), "USD")
    micro = Decimal("0.000001")  # the report layer rounds per-unit costs to a millionth
    assert first.runs == 7 and first.cost_per_run == Money(Decimal(40), "USD")  # the runs' own cost (40 each)
    assert (
        first.cost_per_outcome == Money((first.cost.amount / 140).quantize(micro), "USD") and first.owner == "U0OWNER"
    )
    assert report.totals == [Money(sum((r.cost.amount for r in report.rows), Decimal(0)), "USD")]
    assert abs(sum(r.share_pct or 0 for r in report.rows) - 100) <= Decimal("0.2")  # each rounded to 0.1


def test_workflow_detail_and_unknown_names(engine: Engine) -> None:
    seed(engine, date(2026, 10, 1), 56, NOW)
    ledger = LedgerData(engine)
    detail = ledger.workflow("support-triage", NOW)
    assert detail is not None and detail.models[0][0] == "gpt-5" and detail.outcomes == 20 * 25
    assert ledger.workflow("nope", NOW) is None
    assert ledger.workflow_names() == ["code-review", "sales-emails", "support-triage"]
    assert ledger.breakdown("team", "support", NOW) is not None and ledger.breakdown("team", "x", NOW) is None


def test_report_json_maps_to_top_report() -> None:
    report = top_from_report_json(
        {
            "report": "top",
            "by": "workflow",
            "period": {"kind": "week", "start": "2026-11-16", "end": "2026-11-23", "complete": True},
            "previous_period": {"kind": "week", "start": "2026-11-09", "end": "2026-11-16", "complete": True},
            "totals": [{"amount": "123.45", "currency": "USD"}],
            "rows": [
                {
                    "rank": 1,
                    "key": "support-triage",
                    "label": "Support triage",
                    "cost": {"amount": "100.5", "currency": "USD"},
                    "previous_cost": {"amount": "80", "currency": "USD"},
                    "change_pct": "25.6",
                    "share_pct": None,
                    "calls": 10,
                    "runs": 2,
                    "unpriced_calls": 1,
                    "zero_cost_calls": 0,
                    "owner": "U1",
                    "cost_per_run": None,
                    "cost_per_outcome": {"amount": "0.5", "currency": "USD"},
                    "outcome_unit": "ticket",
                }
            ],
            "unpriced": {"calls": 1, "models": []},
            "zero_cost_calls": 0,
        }
    )
    [row] = report.rows
    assert row.cost == Money(Decimal("100.5"), "USD") and row.change_pct == Decimal("25.6") and row.share_pct is None
    assert row.cost_per_outcome == Money(Decimal("0.5"), "USD") and report.unpriced_calls == 1
    assert report.period == Period("week", date(2026, 11, 16), date(2026, 11, 23), True)


def test_reconciliation_drift_names_providers_whose_bill_and_logs_differ(engine: Engine) -> None:
    seed(engine, date(2026, 11, 16), 7, NOW)  # per-call logs: openai only, 3 workflows, 73 + 0.3 * offset a day
    logged = sum((Decimal(73) + Decimal(3 * o) / 10 for o in range(7)), Decimal(0))
    seed_openai_bills(engine, date(2026, 11, 16), 7, Decimal(80), NOW)
    [line] = LedgerData(engine).reconciliation_drift(date(2026, 11, 16), date(2026, 11, 23))
    drift = percent(Decimal(560) - logged, Decimal(560))
    assert line.startswith(f"openai: per-call logs ${logged:,.2f} vs bill $560.00 (+{drift}% of the bill)")
    assert LedgerData(engine).reconciliation_drift(date(2026, 10, 1), date(2026, 10, 8)) == []
    # The note's threshold is AISPEND_RECONCILIATION_DRIFT_PCT (issue 14 item 4), the finding's too.
    assert LedgerData(engine, drift_pct=drift).reconciliation_drift(date(2026, 11, 16), date(2026, 11, 23)) == []
