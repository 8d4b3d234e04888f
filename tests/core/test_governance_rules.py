"""Table-driven tests of the pure governance rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from aispend.core.rules.agentic import (
    CallRow,
    EscalationGate,
    RunRow,
    WorkflowConfig,
    cost_per_outcome,
    escalation_gate_findings,
    run_cap_findings,
    token_budget_findings,
)
from aispend.core.rules.change import ChangePolicy, Usage, change_windows, decompose, evaluate_changes
from aispend.core.rules.data_quality import (
    DataQualityPolicy,
    reconciliation_findings,
    stale_source_findings,
    unattributed_findings,
    unpriced_findings,
)
from aispend.core.rules.findings import COMPANY, Level, MixedCurrencyError, Scope
from aispend.core.rules.periods import period_of
from aispend.core.rules.reconciliation import BillTotal, CallTotal, reconcile
from aispend.core.rules.share import SharePolicy, evaluate_share
from aispend.core.rules.spend import SpendIndex, SpendRow
from aispend.core.rules.thresholds import Threshold, evaluate_thresholds, levels_from_budget

D = Decimal
NOV = period_of("month", date(2026, 11, 1))


def row(
    day: date,
    cost: str,
    workflow: str = "wf",
    *,
    team: str = "t",
    model: str = "m",
    provider: str = "p",
    currency: str = "USD",
    calls: int = 10,
    tokens: int = 1000,
    cache: int = 0,
) -> SpendRow:
    return SpendRow(
        day=day,
        cost=D(cost),
        currency=currency,
        provider=provider,
        model=model,
        workflow=workflow,
        team=team,
        calls=calls,
        input_tokens=tokens,
        cache_read_tokens=cache,
    )


def days(start: date, n: int, cost: str, **kw: object) -> list[SpendRow]:
    return [row(start + timedelta(days=i), cost, **kw) for i in range(n)]  # type: ignore[arg-type]


def at(day: int, hour: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


# ---- thresholds ------------------------------------------------------------------------------


def _threshold(yellow: str | None, red: str | None, scope: Scope = COMPANY, period: str = "month") -> Threshold:
    return Threshold(scope, period, D(yellow) if yellow else None, D(red) if red else None, "USD")


@pytest.mark.parametrize(
    ("name", "rows", "threshold", "now", "level", "basis"),
    [
        (
            "under budget",
            days(date(2026, 11, 1), 10, "10"),
            _threshold("800", "1000"),
            at(11),
            Level.OK,
            "actual",
        ),
        (
            "actual red",
            days(date(2026, 11, 1), 10, "110"),
            _threshold("800", "1000"),
            at(11),
            Level.RED,
            "actual",
        ),
        (
            "actual yellow, forecast red",
            days(date(2026, 11, 1), 10, "85"),
            _threshold("800", "1000"),
            at(11),
            Level.RED,
            "forecast",
        ),
        (
            "forecast yellow only",
            days(date(2026, 11, 1), 10, "28"),
            _threshold("800", "1000"),
            at(11),
            Level.YELLOW,
            "forecast",
        ),
        ("empty period", [], _threshold("800", "1000"), at(11), Level.NO_DATA, "actual"),
        (
            "first day, quiet",
            [row(date(2026, 11, 1), "1")],
            _threshold("800", "1000"),
            at(1, 6),
            Level.OK,
            "actual",
        ),
        (
            "first day uses last month's rate",
            days(date(2026, 10, 1), 31, "40"),
            _threshold("800", "1000"),
            at(1, 0),
            Level.RED,
            "forecast",
        ),
        (
            "credits bring it back under",
            [*days(date(2026, 11, 1), 10, "110"), row(date(2026, 11, 10), "-600")],
            _threshold("1500", "2000"),
            at(11),
            Level.OK,
            "actual",
        ),
        (
            "team scope only counts the team",
            days(date(2026, 11, 1), 10, "110", team="other") + days(date(2026, 11, 1), 10, "1", team="t"),
            _threshold(None, "500", Scope("team", "t")),
            at(11),
            Level.OK,
            "actual",
        ),
        ("red only", days(date(2026, 11, 1), 10, "60"), _threshold(None, "500"), at(11), Level.RED, "actual"),
        (
            "weekly period",
            days(date(2026, 11, 23), 3, "100"),
            _threshold("250", "600", period="week"),
            at(26),
            Level.RED,
            "forecast",
        ),
        (
            "workflow appearing mid-period",
            days(date(2026, 11, 20), 2, "50", workflow="new"),
            _threshold("200", "400", Scope("workflow", "new")),
            at(22),
            Level.RED,
            "forecast",
        ),
    ],
)
def test_thresholds(
    name: str, rows: list[SpendRow], threshold: Threshold, now: datetime, level: Level, basis: str
) -> None:
    index = SpendIndex(rows, ["company", "team", "workflow"])
    [finding] = evaluate_thresholds(index, [threshold], now)
    assert (finding.level, finding.basis) == (level, basis), finding.summary
    if basis == "forecast":
        assert "forecast breach" in finding.summary


def test_threshold_refuses_mixed_currencies_with_a_clear_message() -> None:
    rows = [row(date(2026, 11, 2), "10"), row(date(2026, 11, 3), "10", currency="EUR")]
    with pytest.raises(MixedCurrencyError, match="EUR, USD cannot be added"):
        evaluate_thresholds(SpendIndex(rows, ["company"]), [_threshold("1", "2")], at(5))


def test_threshold_in_another_currency_than_the_spend_is_refused() -> None:
    rows = [row(date(2026, 11, 2), "10", currency="EUR")]
    with pytest.raises(MixedCurrencyError, match="convert"):
        evaluate_thresholds(SpendIndex(rows, ["company"]), [_threshold("1", "2")], at(5))


@pytest.mark.parametrize(
    ("yellow", "red", "message"),
    [(None, None, "needs a yellow"), ("10", "5", "above red"), ("-1", "5", "above zero")],
)
def test_threshold_validation(yellow: str | None, red: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _threshold(yellow, red)


def test_budget_only_gives_documented_defaults() -> None:
    assert levels_from_budget(D(1000)) == (D(800), D(1000))


# ---- share of spend --------------------------------------------------------------------------


def _share_rows(runaway: str, others: int = 5, each: str = "100", day: int = 2) -> list[SpendRow]:
    rows = [row(date(2026, 11, day), each, workflow=f"w{i}") for i in range(others)]
    return [*rows, row(date(2026, 11, day), runaway, workflow="runaway")]


@pytest.mark.parametrize(
    ("name", "rows", "now", "level"),
    [
        ("above red share", _share_rows("200"), at(3), Level.RED),  # 200/700 = 28.6%
        ("yellow band", _share_rows("90"), at(3), Level.YELLOW),  # 90/590 = 15.3%
        ("exactly 20% is yellow, red is above", _share_rows("125"), at(3), Level.YELLOW),  # 125/625
        ("below yellow", _share_rows("50"), at(3), Level.OK),
        ("quiet first day pages nobody", _share_rows("20", others=1, each="5", day=1), at(1, 9), Level.OK),
        (
            "credits reduce the share",
            [*_share_rows("200"), row(date(2026, 11, 2), "-150", workflow="runaway")],
            at(3),
            Level.OK,
        ),
    ],
)
def test_share_of_spend(name: str, rows: list[SpendRow], now: datetime, level: Level) -> None:
    findings = {f.scope.key: f for f in evaluate_share(rows, now, SharePolicy()) if f.rule == "share"}
    assert findings["runaway"].level is level, findings["runaway"].summary


def test_share_is_configurable() -> None:
    for yellow, red, level in (("5", "10", Level.YELLOW), ("5", "9", Level.RED), ("10", "20", Level.OK)):
        policy = SharePolicy(yellow_pct=D(yellow), red_pct=D(red))
        findings = {f.scope.key: f for f in evaluate_share(_share_rows("50"), at(3), policy) if f.rule == "share"}
        assert findings["runaway"].level is level  # 50 of 550 = 9.09%


def test_share_of_empty_period_has_no_findings() -> None:
    assert evaluate_share([], at(3), SharePolicy()) == []


def test_share_refuses_mixed_currencies() -> None:
    rows = [*_share_rows("200"), row(date(2026, 11, 2), "1", currency="EUR")]
    with pytest.raises(MixedCurrencyError):
        evaluate_share(rows, at(3), SharePolicy())


def test_new_entrant_in_top_five() -> None:
    october = [row(date(2026, 10, 5), str(100 - i), workflow=f"w{i}") for i in range(6)]
    november = [row(date(2026, 11, 2), str(100 - i), workflow=f"w{i}") for i in range(4)]
    november.append(row(date(2026, 11, 2), "500", workflow="newcomer"))
    findings = [f for f in evaluate_share(october + november, at(3), SharePolicy()) if f.rule == "new_entrant"]
    flagged = {f.scope.key for f in findings if f.level is Level.YELLOW}
    assert flagged == {"newcomer"}
    assert "entered the top 5 at #1" in next(f.summary for f in findings if f.scope.key == "newcomer")


# ---- change and its explanation --------------------------------------------------------------


def _u(calls: int, tokens: int, cost: str, cache: int = 0) -> Usage:
    return Usage(calls=calls, tokens=tokens, cache_read_tokens=cache, cost=D(cost))


@pytest.mark.parametrize(
    ("name", "before", "after", "expect"),
    [
        ("price change only", {"m": _u(100, 10_000, "10")}, {"m": _u(100, 10_000, "15")}, {"price": D(5)}),
        ("volume only", {"m": _u(100, 10_000, "10")}, {"m": _u(200, 20_000, "20")}, {"volume": D(10)}),
        (
            "moved to a frontier model",
            {"small": _u(100, 10_000, "10")},
            {"big": _u(100, 10_000, "100")},
            {"model_mix": D(90)},
        ),
        (
            "cache hits rose",
            {"m": _u(100, 10_000, "10")},
            {"m": _u(100, 10_000, "5.5", cache=5_000)},
            {"cache_hit_rate": D("-4.5")},
        ),
        ("new scope", {}, {"m": _u(10, 100, "3")}, {"volume": D(3)}),
        ("credits", {"m": _u(100, 10_000, "10")}, {"m": _u(100, 10_000, "-2")}, {"price": D(-12)}),
    ],
)
def test_decomposition(
    name: str, before: dict[str, Usage], after: dict[str, Usage], expect: dict[str, Decimal]
) -> None:
    parts = decompose(before, after)
    got = {
        "volume": parts.volume,
        "model_mix": parts.model_mix,
        "cache_hit_rate": parts.cache_hit_rate,
        "price": parts.price,
    }
    assert sum(got.values(), D(0)) == pytest.approx(parts.change, abs=D("1e-9"))
    for component, value in got.items():
        assert value == pytest.approx(expect.get(component, D(0)), abs=D("1e-9")), (component, got)


def test_price_change_between_two_weeks_shows_as_price_not_volume() -> None:
    week1 = days(date(2026, 11, 9), 7, "10", calls=100, tokens=10_000)  # Mon 9 .. Sun 15
    week2 = days(date(2026, 11, 16), 7, "13", calls=100, tokens=10_000)
    [company] = [f for f in evaluate_changes(week1 + week2, at(23), ChangePolicy("week"), ["company"])]
    explained = company.numbers["explained"]
    assert explained["price"] == {"amount": "21", "currency": "USD"}
    assert explained["volume"] == {"amount": "0", "currency": "USD"}
    assert company.level is Level.YELLOW and company.numbers["change_pct"] == "30.0"


def test_changes_name_the_top_workflows_and_models() -> None:
    before = days(date(2026, 11, 9), 7, "10", workflow="support", model="small", calls=10) + days(
        date(2026, 11, 9), 7, "10", workflow="docs", model="small", calls=10
    )
    after = days(date(2026, 11, 16), 7, "40", workflow="support", model="frontier", calls=20) + days(
        date(2026, 11, 16), 7, "10", workflow="docs", model="small", calls=10
    )
    findings = {
        f.scope: f
        for f in evaluate_changes(
            before + after,
            at(23),
            ChangePolicy("week"),
            ["company", "workflow"],
            {("workflow", "support"): (50, 100)},
        )
    }
    company = findings[COMPANY]
    assert company.numbers["top_workflows"][0]["key"] == "support"
    assert company.numbers["top_models"][0]["key"] == "p/frontier"
    support = findings[Scope("workflow", "support")]
    assert (support.numbers["runs_before"], support.numbers["runs_after"]) == (50, 100)
    assert support.numbers["explained"]["model_mix"] != {"amount": "0", "currency": "USD"}
    assert findings[Scope("workflow", "docs")].level is Level.OK


@pytest.mark.parametrize(
    ("now", "current", "previous"),
    [
        (at(26), (date(2026, 11, 23), date(2026, 11, 26)), (date(2026, 11, 16), date(2026, 11, 19))),
        (at(23), (date(2026, 11, 16), date(2026, 11, 23)), (date(2026, 11, 9), date(2026, 11, 16))),  # Monday
    ],
)
def test_change_windows_are_like_for_like(
    now: datetime, current: tuple[date, date], previous: tuple[date, date]
) -> None:
    w = change_windows("week", now)
    assert (w.comparison.current, w.comparison.previous) == (current, previous)


@pytest.mark.parametrize(
    ("now", "current", "previous"),
    [
        # Wednesday 2 December: Tuesday 1 December against Tuesday 3 November, not Sunday 1 November.
        (at(2, month=12), (date(2026, 12, 1), date(2026, 12, 2)), (date(2026, 11, 3), date(2026, 11, 4))),
        # 30 complete days: the same weekdays five weeks earlier, so the windows never overlap.
        (
            datetime(2026, 3, 31, tzinfo=UTC),
            (date(2026, 3, 1), date(2026, 3, 31)),
            (date(2026, 1, 25), date(2026, 2, 24)),
        ),
        # A month's first day: the month that ended against the whole month before.
        (at(1, month=12), (date(2026, 11, 1), date(2026, 12, 1)), (date(2026, 10, 1), date(2026, 11, 1))),
    ],
)
def test_month_windows_compare_the_same_weekdays(
    now: datetime, current: tuple[date, date], previous: tuple[date, date]
) -> None:
    w = change_windows("month", now)
    assert (w.comparison.current, w.comparison.previous) == (current, previous)
    days_compared = (current[1] - current[0]).days
    if now.day != 1:
        assert (previous[1] - previous[0]).days == days_compared
        assert previous[0].weekday() == current[0].weekday() and previous[1] <= current[0]


def test_a_change_over_too_few_complete_days_is_reported_not_flagged() -> None:
    # Tuesday 1 Dec busy, Tuesday 3 Nov quiet: +700% on one day is not yet a month-over-month trend.
    rows = days(date(2026, 11, 3), 1, "10") + days(date(2026, 12, 1), 1, "80")
    [f] = evaluate_changes(rows, at(2, month=12), ChangePolicy("month"), ["company"])
    assert f.numbers["change_pct"] == "700.0" and f.level is Level.OK
    assert f.numbers["compared"] == "Tue 1 Dec 2026 against Tue 3 Nov 2026"
    rows += days(date(2026, 11, 4), 2, "10") + days(date(2026, 12, 2), 2, "80")
    [f] = evaluate_changes(rows, at(4, month=12), ChangePolicy("month"), ["company"])
    assert f.level is Level.YELLOW  # three complete days compared: now it can alert


def test_small_changes_and_decreases_are_not_flagged() -> None:
    rows = days(date(2026, 11, 9), 7, "10") + days(date(2026, 11, 16), 7, "5")
    [f] = evaluate_changes(rows, at(23), ChangePolicy("week"), ["company"])
    assert f.level is Level.OK and f.numbers["change_pct"] == "-50.0"
    tiny = days(date(2026, 11, 9), 7, "1") + days(date(2026, 11, 16), 7, "3")
    [f] = evaluate_changes(tiny, at(23), ChangePolicy("week"), ["company"])
    assert f.level is Level.OK  # +200% but under the minimum spend


def test_change_refuses_mixed_currencies() -> None:
    rows = days(date(2026, 11, 9), 7, "10") + days(date(2026, 11, 16), 7, "5", currency="EUR")
    with pytest.raises(MixedCurrencyError):
        evaluate_changes(rows, at(23), ChangePolicy("week"), ["company"])


# ---- agentic controls ------------------------------------------------------------------------

RUNS = [
    RunRow("r1", "triage", date(2026, 11, 3), 4, D("0.10"), "USD", "resolved"),
    RunRow("r2", "triage", date(2026, 11, 3), 30, D("2.50"), "USD", ""),
    RunRow("r3", "triage", date(2026, 11, 4), 5, D("0.20"), "USD", "resolved"),
    RunRow("r0", "triage", date(2026, 10, 30), 50, D("9.00"), "USD", ""),  # last month
]


def _call(run: str, step: str, model: str, minute: int, tokens: int = 100, workflow: str = "triage") -> CallRow:
    return CallRow(
        datetime(2026, 11, 3, 10, minute, tzinfo=UTC),
        workflow,
        run,
        step,
        model,
        tokens,
        10,
        D("0.01"),
        "USD",
    )


CALLS = [
    _call("r1", "classify", "small", 0),
    _call("r1", "answer", "small", 1),
    _call("r2", "classify", "frontier", 0, tokens=9000),
    _call("r2", "classify", "small", 1),
    _call("r2", "answer", "frontier", 2, tokens=20_000),
    _call("r3", "classify", "small", 0),
]


@pytest.mark.parametrize(("cap", "level", "over"), [("1.00", Level.RED, ["r2"]), ("5", Level.OK, [])])
def test_run_cap(cap: str, level: Level, over: list[str]) -> None:
    [f] = run_cap_findings(RUNS, CALLS, [WorkflowConfig("triage", run_cost_cap=D(cap))], NOV)
    assert f.level is level
    assert [r["run_id"] for r in f.numbers["listed"]] == over
    if over:
        assert f.numbers["listed"][0]["steps"] == ["answer", "classify"]
        assert f.numbers["listed"][0]["models"] == ["frontier", "small"]


def test_run_cap_without_a_cap_is_silent() -> None:
    assert run_cap_findings(RUNS, CALLS, [WorkflowConfig("triage")], NOV) == []


def test_token_budget_counts_by_step() -> None:
    [f] = token_budget_findings(CALLS, [WorkflowConfig("triage", call_token_budget=5000)], NOV)
    assert f.level is Level.YELLOW
    assert f.numbers["by_step"] == {"answer": 1, "classify": 1}


def test_escalation_gate_flags_runs_that_went_frontier_first() -> None:
    gate = EscalationGate.parse("triage/classify=small")
    [f] = escalation_gate_findings(CALLS, [gate], NOV)
    assert f.level is Level.YELLOW
    assert f.numbers["run_ids"] == ["r2"] and f.numbers["first_models"] == {"frontier": 1}


def test_escalation_gate_parse_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="workflow/step=model"):
        EscalationGate.parse("triage=small")


def test_cost_per_outcome_includes_runs_without_an_outcome() -> None:
    wfs = {"triage": WorkflowConfig("triage", outcome_unit="resolved ticket")}
    [f] = cost_per_outcome(RUNS, {"triage": 2}, {"triage": D("3.00")}, wfs, NOV, "USD")
    assert f.numbers["cost_per_outcome"] == {"amount": "1.5", "currency": "USD"}
    assert f.numbers["cost_per_run"] == {"amount": "0.9333333333333333333333333333", "currency": "USD"}
    assert f.numbers["runs_without_outcome"] == 1
    assert f.numbers["cost_of_runs_without_outcome"] == {"amount": "2.5", "currency": "USD"}
    assert "$1.50 per resolved ticket" in f.summary


def test_cost_per_outcome_with_no_outcomes_says_so() -> None:
    [f] = cost_per_outcome(RUNS, {}, {}, {}, NOV, "USD")
    assert f.numbers["cost_per_outcome"] is None and "no outcome recorded" in f.summary


# ---- data quality ----------------------------------------------------------------------------


def test_unpriced_and_zero_cost_calls_are_findings() -> None:
    rows = [
        SpendRow(date(2026, 11, 2), D(0), "USD", provider="p", model="mystery", unpriced_calls=7),
        SpendRow(date(2026, 11, 2), D(0), "USD", provider="p", model="free", zero_cost_calls=3),
    ]
    found = {f.rule: f for f in unpriced_findings(rows, NOV, at(3))}
    assert found["dq_unpriced"].level is Level.YELLOW and "p/mystery (7)" in found["dq_unpriced"].summary
    assert found["dq_zero_cost"].numbers["calls"] == 3
    clean = {f.rule: f.level for f in unpriced_findings([row(date(2026, 11, 2), "1")], NOV, at(3))}
    assert clean == {"dq_unpriced": Level.OK, "dq_zero_cost": Level.OK}


def test_unattributed_share() -> None:
    rows = [row(date(2026, 11, 2), "80"), row(date(2026, 11, 2), "20", workflow="", team="")]
    both = {"workflow": rows, "team": rows}
    found = {f.rule: f for f in unattributed_findings(both, NOV, at(3), DataQualityPolicy())}
    assert found["dq_unattributed_workflow"].level is Level.YELLOW
    assert found["dq_unattributed_workflow"].numbers["share_pct"] == "20.0"
    assert unattributed_findings({}, NOV, at(3), DataQualityPolicy()) == []


def test_stale_sources() -> None:
    sources = {
        "openai": {"last_success_at": at(25), "freshest_data_at": at(25)},
        "aws": {"last_success_at": at(20), "freshest_data_at": at(19), "last_error": "403 Forbidden"},
        "azure": {"last_error": "bad key"},
    }
    found = {f.scope.key: f for f in stale_source_findings(sources, at(26), DataQualityPolicy(), NOV)}
    assert found["openai"].level is Level.OK
    assert found["aws"].level is Level.YELLOW and "403 Forbidden" in found["aws"].summary
    assert found["azure"].level is Level.NO_DATA


def test_reconciliation_drift_skips_unsettled_days() -> None:
    logs = [CallTotal("openai", date(2026, 11, 1) + timedelta(days=i), "USD", "m", D("10"), 1) for i in range(25)]
    bills = [BillTotal("openai", c.day, "USD", D("11")) for c in logs]
    [f] = reconciliation_findings(reconcile(bills, logs), NOV, at(26), DataQualityPolicy())
    assert f.level is Level.YELLOW and f.numbers["drift_pct"] == "-9.1"
    close = [BillTotal("openai", b.day, "USD", D("10.2")) for b in bills]
    [g] = reconciliation_findings(reconcile(close, logs), NOV, at(26), DataQualityPolicy())
    assert g.level is Level.OK and g.numbers["until"] == "2026-11-24"


def test_no_baseline_flags_nothing() -> None:
    # The ledger's first month: no previous period, so no "new" entrants and no percentage change.
    rows = [row(date(2026, 11, 2), "500", workflow=f"w{i}") for i in range(3)]
    entrants = [f for f in evaluate_share(rows, at(3), SharePolicy()) if f.rule == "new_entrant"]
    assert entrants and all(f.level is Level.OK for f in entrants)
    [company] = evaluate_changes(rows, at(3), ChangePolicy("month"), ["company"])
    assert company.level is Level.OK and company.numbers["change_pct"] is None
    assert company.summary.startswith("company: new MoM")
