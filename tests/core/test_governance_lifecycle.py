"""The alert lifecycle: pure transitions, then persisted end to end on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from aispend.core.governance import store
from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.evaluate import evaluate
from aispend.core.governance.models import AlertState, Notification, ThresholdAudit
from aispend.core.ledger.models import Workflow
from aispend.core.ledger.spend import SpendPolicy
from aispend.core.rates import RateTable
from aispend.core.rules.findings import COMPANY, Finding, Level, Scope
from aispend.core.rules.lifecycle import AlertStatus, LifecyclePolicy, advance
from aispend.core.rules.periods import period_of
from aispend.core.rules.share import SharePolicy
from aispend.core.rules.thresholds import Threshold
from tests.governance_builders import call, insert, rollup, run

T0 = datetime(2026, 11, 10, 9, tzinfo=UTC)
POLICY = LifecyclePolicy(escalate_after=timedelta(hours=4))


def finding(level: Level, rule: str = "share") -> Finding:
    month = period_of("month", T0.date())
    return Finding(rule, Scope("workflow", "w"), month.key, level, f"w is {level.value}", span=month)


def walk(levels: list[Level], policy: LifecyclePolicy = POLICY, rule: str = "share") -> list[tuple[str, str]]:
    """Run a sequence of levels an hour apart; the (kind, level) of every distinct dedupe key drafted."""
    status: AlertStatus | None = None
    seen: dict[str, tuple[str, str]] = {}
    for i, level in enumerate(levels):
        status, drafts = advance(status, finding(level, rule), T0 + timedelta(hours=i), policy)
        for d in drafts:
            seen.setdefault(d.dedupe_key, (d.kind, d.level.value))
    return list(seen.values())


OFF = LifecyclePolicy(escalate_after=None)


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([Level.OK, Level.OK], []),
        ([Level.NO_DATA, Level.OK], []),
        ([Level.OK, Level.YELLOW, Level.YELLOW], [("alert", "yellow")]),
        ([Level.YELLOW, Level.RED, Level.OK], [("alert", "yellow"), ("alert", "red"), ("recovery", "ok")]),
        # exactly once per level within the period: flapping does not re-notify
        ([Level.RED, Level.OK, Level.RED, Level.OK], [("alert", "red"), ("recovery", "ok")]),
        ([Level.RED, Level.NO_DATA], [("alert", "red"), ("alert", "no-data")]),
    ],
)
def test_transitions_notify_once_per_level(levels: list[Level], expected: list[tuple[str, str]]) -> None:
    assert walk(levels, OFF) == expected


def test_leaving_the_top_five_is_not_a_recovery() -> None:
    assert walk([Level.YELLOW, Level.OK], OFF, rule="new_entrant") == [("alert", "yellow")]


def test_red_escalates_once_after_the_delay() -> None:
    got = walk([Level.RED] * 10)  # ten hourly evaluations, escalation after 4 h
    assert got == [("alert", "red"), ("escalation", "red")]


def test_ack_and_snooze_stop_escalation() -> None:
    status, _ = advance(None, finding(Level.RED), T0, POLICY)
    acked = AlertStatus(status.level, status.since, acked_by="ana", acked_at=T0)
    _, drafts = advance(acked, finding(Level.RED), T0 + timedelta(hours=5), POLICY)
    assert drafts == []
    snoozed = AlertStatus(status.level, status.since, snoozed_until=T0 + timedelta(hours=8))
    assert advance(snoozed, finding(Level.RED), T0 + timedelta(hours=5), POLICY)[1] == []
    _, later = advance(snoozed, finding(Level.RED), T0 + timedelta(hours=9), POLICY)
    assert [d.kind for d in later] == ["escalation"]


def test_ack_on_yellow_does_not_cover_a_rise_to_red() -> None:
    status, _ = advance(None, finding(Level.YELLOW), T0, POLICY)
    acked = AlertStatus(status.level, status.since, acked_by="ana", acked_at=T0)
    status, drafts = advance(acked, finding(Level.RED), T0 + timedelta(hours=1), POLICY)
    assert status.acked_by is None and [d.kind for d in drafts] == ["alert"]


def test_reminders_are_off_by_default_and_periodic_when_set() -> None:
    assert walk([Level.YELLOW] * 7, OFF) == [("alert", "yellow")]
    every3 = LifecyclePolicy(escalate_after=None, resend_every=timedelta(hours=3))
    assert walk([Level.YELLOW] * 7, every3) == [
        ("alert", "yellow"),
        ("reminder", "yellow"),
        ("reminder", "yellow"),
    ]


# ---- persisted -------------------------------------------------------------------------------

CONFIG = GovernanceConfig(share=SharePolicy(min_total=Decimal(100)))


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _runaway_month(engine: Engine) -> None:
    """Five steady workflows at $20/day; `runaway` grows from the 10th and stops after the 20th."""
    rows = []
    for d in range(1, 27):
        day = date(2026, 11, d)
        rows += [rollup(day, "20", f"steady{i}") for i in range(5)]
        if 10 <= d <= 20:
            rows.append(rollup(day, str(10 * (d - 9)), "runaway"))
    insert(engine, *rows)


@pytest.mark.parametrize(
    ("window_days", "first_red", "recovered_on"),
    [
        # period so far: 19th is 550/2450 = 22.4% (> 20%); the 18th is 450/2250 = 20.0% (not above)
        (0, 19, None),
        # trailing 7 days: 15th is 210/910 = 23.1%; the 26th is 110/810 = 13.6% once the runaway stopped
        (7, 15, 26),
    ],
)
def test_runaway_turns_red_once_and_recovers_once(
    engine: Engine, window_days: int, first_red: int, recovered_on: int | None
) -> None:
    _runaway_month(engine)
    config = GovernanceConfig(share=SharePolicy(min_total=Decimal(100), window_days=window_days))
    notes: list[Notification] = []
    levels = {}
    for d in range(1, 27):
        for hour in (6, 12, 18):  # several evaluations a day
            result = evaluate(engine, now=datetime(2026, 11, d, hour, tzinfo=UTC), config=config)
            notes += [n for n in result.new_notifications if n.rule == "share" and n.scope_key == "runaway"]
        with Session(engine) as session:
            state = session.execute(
                select(AlertState).where(AlertState.rule == "share", AlertState.scope_key == "runaway")
            ).scalar_one_or_none()
            levels[d] = state.level if state else None
    kinds = [(n.kind, n.level) for n in notes]
    assert min(d for d, lvl in levels.items() if lvl == "red") == first_red
    assert kinds.count(("alert", "red")) == 1
    assert kinds.count(("escalation", "red")) == 1
    if recovered_on is None:
        assert levels[26] == "red" and ("recovery", "ok") not in kinds
    else:
        assert kinds.count(("recovery", "ok")) == 1 and kinds[-1] == ("recovery", "ok")
        assert min(d for d, lvl in levels.items() if d > first_red and lvl == "ok") == recovered_on


def test_ten_evaluations_create_one_notification(engine: Engine) -> None:
    insert(engine, rollup(date(2026, 11, 2), "500", "big"), rollup(date(2026, 11, 2), "100", "small"))
    now = datetime(2026, 11, 3, tzinfo=UTC)
    created = [
        len(evaluate(engine, now=now + timedelta(minutes=i), config=GovernanceConfig(lifecycle=OFF)).new_notifications)
        for i in range(10)
    ]
    assert created[0] >= 1 and created[1:] == [0] * 9
    assert _count(engine, Notification) == created[0]


def test_escalation_once_then_ack_via_store(engine: Engine) -> None:
    insert(engine, rollup(date(2026, 11, 2), "500", "big"), rollup(date(2026, 11, 2), "100", "small"))
    config = GovernanceConfig()
    first = evaluate(engine, now=T0, config=config)
    assert any(n.kind == "alert" and n.level == "red" and n.scope_key == "big" for n in first.new_notifications)
    later = evaluate(engine, now=T0 + timedelta(hours=5), config=config)
    escalations = [n for n in later.new_notifications if n.kind == "escalation"]
    assert [(n.rule, n.scope_key, n.audience) for n in escalations] == [("share", "big", "leadership")]
    assert evaluate(engine, now=T0 + timedelta(hours=9), config=config).new_notifications == []
    with Session(engine) as session:
        state = store.ack_alert(session, "share|workflow:big|2026-11", who="ana", now=T0)
        session.commit()
        assert state.acked_by == "ana"


def test_outbox_lists_undelivered_and_marks_delivered(engine: Engine) -> None:
    insert(engine, Workflow(key="big", owner="U123", updated_at=T0))
    insert(engine, rollup(date(2026, 11, 2), "500", "big"), rollup(date(2026, 11, 2), "100", "small"))
    evaluate(engine, now=T0, config=GovernanceConfig(lifecycle=OFF))
    with Session(engine) as session:
        pending = store.undelivered_notifications(session)
        assert pending and all(n.delivered_at is None for n in pending)
        big = next(n for n in pending if n.scope_key == "big" and n.rule == "share")
        assert big.owner == "U123" and big.payload["numbers"]["share_pct"] == "83.33"
        store.mark_delivered(session, big.id or 0, at=T0, ref="C1/123.456")
        session.commit()
        assert big.id not in {n.id for n in store.undelivered_notifications(session)}


def test_threshold_changes_are_audited(engine: Engine) -> None:
    with Session(engine) as session:
        store.set_threshold(
            session, Threshold(COMPANY, "month", Decimal(800), Decimal(1000), "USD"), actor="cfo", now=T0
        )
        store.set_threshold(
            session,
            Threshold(COMPANY, "month", None, Decimal(1500), "USD"),
            actor="cto",
            now=T0 + timedelta(hours=1),
        )
        store.remove_threshold(session, COMPANY, period_kind="month", actor="cfo", now=T0 + timedelta(hours=2))
        session.commit()
        trail = session.execute(select(ThresholdAudit).order_by(ThresholdAudit.id)).scalars().all()
    assert [(a.action, a.actor) for a in trail] == [("set", "cfo"), ("set", "cto"), ("remove", "cfo")]
    assert trail[0].before is None and trail[0].after["red"] == {"amount": "1000", "currency": "USD"}
    assert trail[1].before["yellow"] == {"amount": "800", "currency": "USD"} and trail[1].after["yellow"] is None
    assert trail[2].after is None


def test_threshold_goes_red_by_forecast_then_actual(engine: Engine) -> None:
    with Session(engine) as session:
        store.set_threshold(
            session, Threshold(COMPANY, "month", Decimal(800), Decimal(1000), "USD"), actor="cfo", now=T0
        )
        session.commit()
    insert(engine, *[rollup(date(2026, 11, d), "60") for d in range(1, 20)])
    result = evaluate(engine, now=datetime(2026, 11, 5, tzinfo=UTC), config=CONFIG)
    company = next(f for f in result.findings if f.rule == "threshold")
    assert (company.level, company.basis) == (Level.RED, "forecast")
    red = [n for n in result.new_notifications if n.rule == "threshold"]
    assert [n.title.split(":")[0] for n in red] == ["RED (forecast)"]
    later = evaluate(engine, now=datetime(2026, 11, 19, tzinfo=UTC), config=CONFIG)
    assert next(f for f in later.findings if f.rule == "threshold").basis == "actual"
    assert [n.kind for n in later.new_notifications if n.rule == "threshold"] == ["escalation"]


def test_another_currency_is_converted_at_its_dated_rate_or_named_when_it_has_none(engine: Engine) -> None:
    """Issue 13 item 5: a EUR row used to turn every rule into a red "currency" refusal."""
    insert(
        engine,
        rollup(date(2026, 11, 2), "500", "big"),
        rollup(date(2026, 11, 2), "100", "eu", currency="EUR"),
    )
    result = evaluate(engine, now=T0, config=CONFIG)
    assert result.errors == [] and not any(f.rule == "currency" for f in result.findings)
    missing = next(f for f in result.findings if f.rule == "dq_unconverted")
    assert missing.level is Level.YELLOW
    assert "€100.00 in EUR (2026-11-02)" in missing.summary and "no EUR -> USD rate for 2026-11-02" in missing.summary
    share = {f.scope.key: f.numbers for f in result.findings if f.rule == "share"}
    assert share["big"]["total_spend"] == {"amount": "500", "currency": "USD"}  # EUR left out, and said so

    rates = RateTable("USD")
    rates.add("EUR", date(2026, 11, 1), Decimal("1.08"))
    converted = replace(CONFIG, spend=SpendPolicy("USD", rates=rates))
    again = evaluate(engine, now=T0, config=converted)
    assert next(f for f in again.findings if f.rule == "dq_unconverted").level is Level.OK
    share = {f.scope.key: f.numbers for f in again.findings if f.rule == "share"}
    assert share["eu"]["workflow_spend"] == {"amount": "108", "currency": "USD"}
    assert share["big"]["total_spend"] == {"amount": "608", "currency": "USD"}


def test_agentic_findings_from_the_ledger(engine: Engine) -> None:
    insert(engine, Workflow(key="triage", run_cost_cap=Decimal("1"), call_token_budget=1000, updated_at=T0))
    ts = datetime(2026, 11, 3, 10, tzinfo=UTC)
    insert(
        engine,
        run("r1", "triage", date(2026, 11, 3), "0.5", "resolved"),
        run("r2", "triage", date(2026, 11, 3), "4"),
        call("c1", "r2", "triage", "classify", "gpt-4o", ts, tokens=5000),
        call("c2", "r2", "triage", "classify", "gpt-4o-mini", ts + timedelta(seconds=1)),
        rollup(date(2026, 11, 3), "4.5", "triage"),
    )
    result = evaluate(engine, now=T0, config=CONFIG)
    cap = next(f for f in result.findings if f.rule == "run_cap")
    assert cap.level is Level.RED and cap.numbers["listed"][0]["run_id"] == "r2"
    assert cap.numbers["listed"][0]["models"] == ["gpt-4o", "gpt-4o-mini"]
    budget = next(f for f in result.findings if f.rule == "token_budget")
    assert budget.numbers["by_step"] == {"classify": 1}


def test_cli_evaluate_json_lists_new_notifications_once(database_url: str, engine: Engine) -> None:
    insert(engine, rollup(date(2026, 11, 2), "500", "big"), rollup(date(2026, 11, 2), "100", "small"))
    env = {**os.environ, "AISPEND_DATABASE_URL": database_url}

    def cli(*args: str) -> dict:
        out = subprocess.run(
            [sys.executable, "-m", "aispend.cli.main", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)

    first = cli("evaluate", "--json", "--at", "2026-11-03T08:00:00Z")
    keys = {n["dedupe_key"] for n in first["new_notifications"]}
    assert "share|workflow:big|2026-11|red" in keys
    assert cli("evaluate", "--json", "--at", "2026-11-03T08:30:00Z")["new_notifications"] == []
    status = cli("report", "status", "--json", "--at", "2026-11-03")
    assert status["findings"][0]["level"] == "red"


def test_cli_thresholds_workflows_and_alerts(database_url: str, engine: Engine) -> None:
    env = {**os.environ, "AISPEND_DATABASE_URL": database_url}

    def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aispend.cli.main", *args],
            env=env,
            capture_output=True,
            text=True,
            check=ok,
        )

    cli("thresholds", "set", "--scope", "team:support", "--budget", "1000", "--by", "cfo")
    cli("thresholds", "set", "--scope", "team:support", "--red", "1200", "--by", "cto")
    listed = json.loads(cli("thresholds", "list", "--json").stdout)["thresholds"]
    assert [(t["scope"], t["yellow"], t["red"]["amount"]) for t in listed] == [
        ({"kind": "team", "key": "support"}, None, "1200")
    ]
    history = [json.loads(line) for line in cli("thresholds", "history").stdout.splitlines()]
    assert [(h["actor"], h["before"] and h["before"]["yellow"]["amount"]) for h in history] == [
        ("cfo", None),
        ("cto", "800"),
    ]
    bad = cli("thresholds", "set", "--scope", "team", "--red", "5", ok=False)
    assert bad.returncode == 2 and "scope must be company or one of" in bad.stderr
    bad = cli("thresholds", "set", "--scope", "company", "--yellow", "9", "--red", "5", ok=False)
    assert "yellow level 9 is above red level 5" in bad.stderr
    cli("thresholds", "remove", "--scope", "team:support", "--by", "cfo")
    assert json.loads(cli("thresholds", "list", "--json").stdout)["thresholds"] == []

    cli("workflows", "set-owner", "triage", "U42")
    cli("workflows", "set-cap", "triage", "--run-cost-cap", "0.50", "--call-token-budget", "8000")
    [wf] = json.loads(cli("workflows", "list", "--json").stdout)["workflows"]
    assert (wf["owner"], wf["run_cost_cap"], wf["call_token_budget"]) == (
        "U42",
        {"amount": "0.5", "currency": "USD"},
        8000,
    )

    insert(engine, rollup(date(2026, 11, 2), "500", "big"), rollup(date(2026, 11, 2), "100", "small"))
    cli("evaluate", "--at", "2026-11-03T08:00:00Z")
    alerts = json.loads(cli("alerts", "list", "--json").stdout)["alerts"]
    assert "share|workflow:big|2026-11" in {a["ref"] for a in alerts}
    acked = json.loads(cli("alerts", "ack", "share|workflow:big|2026-11", "--by", "ana").stdout)
    assert acked["acked_by"] == "ana"
    # acknowledged: no escalation later
    later = json.loads(cli("evaluate", "--json", "--at", "2026-11-03T20:00:00Z").stdout)
    assert [n for n in later["new_notifications"] if n["scope"]["key"] == "big"] == []
