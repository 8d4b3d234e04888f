from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from aispend.core.ledger.queries import RunTotals, SpendRow, WorkflowInfo
from aispend.core.reports.periods import comparison_of, period_containing
from aispend.core.reports.top import build_top_report
from aispend.core.rules.periods import Comparison, Period
from tests.clihelp import run_cli


def _row(key: str, cost: str, currency: str = "USD", calls: int = 10, unpriced: int = 0) -> SpendRow:
    return SpendRow(key, currency, Decimal(cost), calls, unpriced, 0, 0, 0)


WEEK = Period("week", date(2026, 11, 16), date(2026, 11, 23), True)
PREV = Period("week", date(2026, 11, 9), date(2026, 11, 16), True)
WOW = Comparison((WEEK.start, WEEK.end), (PREV.start, PREV.end))


def test_top_ranks_by_cost_with_change_share_and_other() -> None:
    report = build_top_report(
        by="workflow",
        period=WEEK,
        comparison=WOW,
        limit=2,
        current_rows=[_row("a", "50"), _row("b", "30"), _row("c", "20")],
        compared_rows=[_row("a", "50"), _row("b", "30"), _row("c", "20")],
        previous_rows=[_row("a", "40"), _row("c", "25")],
        workflows={"a": WorkflowInfo("a", "Alpha", "@ann", "support", "ticket")},
        runs={"a": RunTotals(runs=4, cost=Decimal("48"), runs_with_outcome=2)},
        outcomes={"a": 8},
    )
    assert [r["key"] for r in report["rows"]] == ["a", "b"]
    a, b = report["rows"]
    assert a["label"] == "Alpha" and a["owner"] == "@ann"
    assert a["cost"] == {"amount": "50", "currency": "USD"}
    assert a["change_pct"] == "25.0" and a["share_pct"] == "50.0"
    assert a["cost_per_run"] == {"amount": "12", "currency": "USD"}
    assert a["cost_per_outcome"] == {"amount": "6.25", "currency": "USD"}
    assert b["change_pct"] is None and b["new_entrant"] is True
    assert report["other"] == {"count": 1, "costs": [{"amount": "20", "currency": "USD"}]}
    assert report["totals"] == [{"amount": "100", "currency": "USD"}]
    assert report["total_change_pct"] == "53.8"


def test_top_with_no_spend_is_empty_not_an_error() -> None:
    report = build_top_report(
        by="team", period=WEEK, comparison=WOW, limit=5, current_rows=[], compared_rows=[], previous_rows=[]
    )
    assert report["rows"] == [] and report["totals"] == [] and report["total_change_pct"] is None


def test_currencies_are_never_added_together() -> None:
    report = build_top_report(
        by="team",
        period=WEEK,
        comparison=WOW,
        limit=5,
        current_rows=[_row("x", "10", "USD"), _row("y", "30", "EUR")],
        compared_rows=[_row("x", "10", "USD"), _row("y", "30", "EUR")],
        previous_rows=[],
    )
    assert report["totals"] == [{"amount": "30", "currency": "EUR"}, {"amount": "10", "currency": "USD"}]
    assert {r["key"]: r["share_pct"] for r in report["rows"]} == {"x": "100.0", "y": "100.0"}


@pytest.mark.parametrize(
    ("kind", "at", "today", "expected", "compared"),
    [
        # a finished week against the whole week before
        (
            "week",
            date(2026, 11, 18),
            date(2026, 11, 26),
            (date(2026, 11, 16), date(2026, 11, 23), True),
            ((date(2026, 11, 16), date(2026, 11, 23)), (date(2026, 11, 9), date(2026, 11, 16))),
        ),
        # Wednesday: Monday and Tuesday (complete days) against last week's Monday and Tuesday
        (
            "week",
            date(2026, 11, 25),
            date(2026, 11, 25),
            (date(2026, 11, 23), date(2026, 11, 26), False),
            ((date(2026, 11, 23), date(2026, 11, 25)), (date(2026, 11, 16), date(2026, 11, 18))),
        ),
        # 31 March: the 30 complete days against the same weekdays five weeks earlier
        (
            "month",
            date(2026, 3, 31),
            date(2026, 3, 31),
            (date(2026, 3, 1), date(2026, 4, 1), True),
            ((date(2026, 3, 1), date(2026, 3, 31)), (date(2026, 1, 25), date(2026, 2, 24))),
        ),
        # Wednesday 2 December: Tuesday 1 December against Tuesday 3 November (not Sunday 1 November)
        (
            "month",
            date(2026, 12, 2),
            date(2026, 12, 2),
            (date(2026, 12, 1), date(2026, 12, 3), False),
            ((date(2026, 12, 1), date(2026, 12, 2)), (date(2026, 11, 3), date(2026, 11, 4))),
        ),
        # a period's first day: no complete day to compare yet
        ("month", date(2026, 11, 1), date(2026, 11, 1), (date(2026, 11, 1), date(2026, 11, 2), False), None),
    ],
)
def test_periods_compare_like_for_like(
    kind: str,
    at: date,
    today: date,
    expected: tuple[date, date, bool],
    compared: tuple[tuple[date, date], tuple[date, date]] | None,
) -> None:
    period = period_containing(kind, at, today)
    assert (period.start, period.end, period.complete) == expected
    comparison = comparison_of(period, today)
    assert (comparison.current, comparison.previous) == compared if comparison else compared is None


def _calls_file(tmp_path: Path) -> Path:
    rows = [
        {
            "call_id": f"{wf}-{day}-{i}",
            "timestamp": f"2026-11-{day}T10:00:00Z",
            "provider": "openai",
            "model": model,
            "input_tokens": 1000,
            "output_tokens": 100,
            "cost": cost,
            "workflow": wf,
            "team": team,
            "run_id": f"{wf}-{day}-{i // 2}",
        }
        for day, wf, team, model, cost, n in [
            (10, "support", "cs", "gpt-4o", "1.00", 4),
            (17, "support", "cs", "gpt-4o", "2.00", 6),
            (17, "search", "product", "gpt-4o-mini", "0.50", 4),
            (18, "review", "eng", "unknown-model", None, 3),
        ]
        for i in range(n)
    ]
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(json.dumps({k: v for k, v in r.items() if v is not None}) for r in rows))
    return path


def test_report_top_json_end_to_end(engine: Engine, database_url: str, tmp_path: Path) -> None:
    assert run_cli(["ingest", "calls", str(_calls_file(tmp_path))], database_url).exit_code == 0
    result = run_cli(["report", "top", "--at", "2026-11-17", "--json"], database_url)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["period"] == {"kind": "week", "start": "2026-11-16", "end": "2026-11-23", "complete": True}
    assert [(r["key"], r["cost"]["amount"], r["change_pct"]) for r in report["rows"]] == [
        ("support", "12", "200.0"),
        ("search", "2", None),
        ("review", "0", None),
    ]
    assert report["rows"][0]["runs"] == 3
    assert report["unpriced"] == {"calls": 3, "models": [{"provider": "openai", "model": "unknown-model", "calls": 3}]}
    by_model = json.loads(
        run_cli(["report", "top", "--at", "2026-11-17", "--by", "model", "--json"], database_url).output
    )
    assert [r["key"] for r in by_model["rows"]] == ["gpt-4o", "gpt-4o-mini", "unknown-model"]


def test_report_spend_table_shows_unpriced(engine: Engine, database_url: str, tmp_path: Path) -> None:
    run_cli(["ingest", "calls", str(_calls_file(tmp_path))], database_url)
    result = run_cli(
        ["report", "spend", "--since", "2026-11-01", "--until", "2026-12-01", "--by", "team"], database_url
    )
    assert result.exit_code == 0, result.output
    assert "$18.00" in result.output
    assert "Unpriced: 3 calls" in result.output


def test_bad_report_arguments_are_refused_clearly(engine: Engine, database_url: str) -> None:
    result = run_cli(["report", "top", "--by", "colour"], database_url)
    assert result.exit_code == 2 and "'colour' is not one of" in result.output
    result = run_cli(["report", "top", "--at", "last tuesday"], database_url)
    assert result.exit_code == 2 and "not a date" in result.output
    result = run_cli(["report", "spend", "--since", "2026-11-10", "--until", "2026-11-01"], database_url)
    assert result.exit_code == 2 and "must be after" in result.output


def test_bills_are_the_total_and_call_logs_the_shares(engine: Engine, database_url: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from aispend.core.ledger.costlines import CostLineIn, upsert_cost_lines

    calls = tmp_path / "calls.jsonl"
    calls.write_text(
        "\n".join(
            json.dumps(
                {
                    "call_id": f"k{i}",
                    "timestamp": "2026-11-17T10:00:00Z",
                    "provider": "openai",
                    "model": "gpt-4o",
                    "input_tokens": 10,
                    "output_tokens": 1,
                    "cost": "5",
                    "workflow": wf,
                }
            )
            for i, wf in enumerate(["support", "search"])
        )
    )
    run_cli(["ingest", "calls", str(calls)], database_url)
    start = datetime(2026, 11, 17, tzinfo=UTC)
    bill = CostLineIn(
        source="openai",
        natural_key="2026-11-17/proj",
        charge_period_start=start,
        charge_period_end=datetime(2026, 11, 18, tzinfo=UTC),
        billed_cost=Decimal("14.50"),
        billing_currency="USD",
        provider="openai",
        service_name="OpenAI API",
        is_ai=True,
    )
    with engine.begin() as conn:
        upsert_cost_lines(conn, [bill], now=start)
    report = json.loads(run_cli(["report", "top", "--at", "2026-11-17", "--json"], database_url).output)
    assert report["totals"] == [{"amount": "14.5", "currency": "USD"}]
    assert {r["key"]: r["cost"]["amount"] for r in report["rows"]} == {"support": "5", "search": "5", "": "4.5"}
    unattributed = next(r for r in report["rows"] if r["key"] == "")
    assert unattributed["label"] == "(unattributed)"


def test_report_top_and_report_changes_compare_the_same_complete_days(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Wednesday noon: Monday and Tuesday of this week against last week's Monday and Tuesday, in both
    reports (today's half day is spend so far, not part of the comparison)."""
    from datetime import UTC, datetime

    from typer.testing import CliRunner

    from aispend.cli.main import app
    from aispend.cli.runtime import Runtime
    from aispend.core.settings import load_settings

    days = [(16, "40.00"), (17, "40.00"), (18, "40.00"), (23, "40.00"), (24, "40.00"), (25, "3.00")]
    calls = tmp_path / "calls.jsonl"
    calls.write_text(
        "\n".join(
            json.dumps(
                {
                    "call_id": f"c{day}",
                    "timestamp": f"2026-11-{day}T08:00:00Z",
                    "provider": "openai",
                    "model": "gpt-4o",
                    "input_tokens": 10,
                    "output_tokens": 1,
                    "cost": cost,
                    "workflow": "support",
                }
            )
            for day, cost in days
        )
    )
    wednesday = datetime(2026, 11, 25, 12, tzinfo=UTC)
    env = {"AISPEND_DATABASE_URL": database_url}

    def cli(args: list[str]) -> str:
        obj = Runtime(settings=load_settings(database_url=database_url), clock=lambda: wednesday)
        result = CliRunner().invoke(app, args, env=env, obj=obj)
        assert result.exit_code == 0, result.output
        return result.output

    cli(["ingest", "calls", str(calls)])
    top: dict[str, Any] = json.loads(cli(["report", "top", "--json"]))
    changes: dict[str, Any] = json.loads(cli(["report", "changes", "--period", "week", "--json"]))

    assert top["totals"] == [{"amount": "83", "currency": "USD"}]  # spend so far, today included
    assert top["comparison"]["current"] == ["2026-11-23", "2026-11-25"]
    assert top["comparison"]["previous"] == ["2026-11-16", "2026-11-18"]
    assert top["compared_totals"] == [{"amount": "80", "currency": "USD"}]
    assert top["previous_totals"] == [{"amount": "80", "currency": "USD"}]
    assert top["total_change_pct"] == "0.0"  # was -30.8%: 2.5 days against 3 full days
    [company] = [f for f in changes["findings"] if f["scope"]["kind"] == "company"]
    assert company["numbers"]["change_pct"] == top["total_change_pct"]
    assert company["numbers"]["current_window"] == top["comparison"]["current"]


def test_one_period_type_round_trips_with_complete() -> None:
    running = period_containing("week", date(2026, 11, 25), date(2026, 11, 25))
    assert running == Period("week", date(2026, 11, 23), date(2026, 11, 26), complete=False)
    assert Period.from_json(running.as_json(with_complete=True)) == running
    assert running.as_json() == {"kind": "week", "start": "2026-11-23", "end": "2026-11-26"}  # a finding's span
    assert Period.from_json(running.as_json()).complete  # spans carry no flag: whole periods
