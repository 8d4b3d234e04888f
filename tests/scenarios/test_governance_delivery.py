"""Governance notifications into Slack for every kind of finding the rules can raise, and what happens to
one that cannot be delivered: it is set aside (failed, with the reason), reported once, and never blocks
the others nor fails a later run.

The real Slack client (slack_sdk) talks to the local fake Slack; the clocks are fixed (NOW)."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from aispend.app import deliver_notifications, evaluate_and_deliver, wire
from aispend.bot.models import AlertMessage
from aispend.core.governance import store
from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.evaluate import Evaluated, apply_findings
from aispend.core.governance.models import Notification
from aispend.core.governance.store import DeliveryResult, claim_delivery, set_aside
from aispend.core.rules import agentic
from aispend.core.rules import data_quality as dq
from aispend.core.rules.change import ChangePolicy, evaluate_changes
from aispend.core.rules.findings import ALERT_KINDS, Finding, Level, MixedCurrencyError, Scope, currency_refusal
from aispend.core.rules.lifecycle import LifecyclePolicy
from aispend.core.rules.periods import period_from_key, period_of
from aispend.core.rules.reconciliation import BillTotal, CallTotal, reconcile
from aispend.core.rules.share import SharePolicy, evaluate_share
from aispend.core.rules.spend import SpendIndex, SpendRow
from aispend.core.rules.thresholds import Threshold, evaluate_thresholds
from aispend.core.rules.unit_economics import FeatureRevenue, unit_economics
from aispend.core.settings import Settings
from aispend.demo.company import RUNAWAY_WORKFLOW
from aispend.demo.load import load_demo
from aispend.jobs.governance_jobs import outbox_depth
from tests.clihelp import run_cli
from tests.fakes.slack_api import FakeSlack
from tests.governance_builders import pending_notification
from tests.slack_builders import slack_settings as bot_settings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday
MONTH = period_of("month", NOW.date())
D = Decimal
WF = "support-triage"


def _days(start: date, stop: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((stop - start).days)]


def _spend(day: date, cost: str, **dims: Any) -> SpendRow:
    return SpendRow(day=day, cost=D(cost), currency=dims.pop("currency", "USD"), **dims)


NOVEMBER = _days(MONTH.start, NOW.date() + timedelta(days=1))


# --- one real finding of every kind, each raised by its own rule --------------------------------------------


def _threshold() -> list[Finding]:
    rows = [_spend(day, "100", workflow=WF) for day in NOVEMBER]
    rule = Threshold(Scope("workflow", WF), "month", D(500), D(1000), "USD")
    return evaluate_thresholds(SpendIndex.from_kinds({"workflow": rows}), [rule], NOW)


def _share_rows() -> list[SpendRow]:
    # October: five steady workflows. November: support-triage arrives and takes most of the spend.
    october = _days(date(2026, 10, 1), MONTH.start)
    rows = [_spend(day, "10", workflow=f"w{n}") for day in october + NOVEMBER for n in range(5)]
    return rows + [_spend(day, "400", workflow=WF) for day in NOVEMBER]


def _share() -> list[Finding]:
    return [f for f in evaluate_share(_share_rows(), NOW, SharePolicy()) if f.rule == "share"]


def _new_entrant() -> list[Finding]:
    return [f for f in evaluate_share(_share_rows(), NOW, SharePolicy()) if f.rule == "new_entrant"]


def _growing() -> list[SpendRow]:
    # 10% more every day since September: any window is well above the one before it.
    days = _days(date(2026, 9, 1), NOW.date() + timedelta(days=1))
    return [_spend(day, str((D(50) * D("1.1") ** i).quantize(D("0.01"))), workflow=WF) for i, day in enumerate(days)]


def _change(kind: str) -> Callable[[], list[Finding]]:
    return lambda: evaluate_changes(_growing(), NOW, ChangePolicy(kind), ["company"])


def _call(step: str, model: str, tokens: int = 100) -> agentic.CallRow:
    return agentic.CallRow(NOW - timedelta(hours=1), WF, "run-1", step, model, tokens, 10, D("0.5"), "USD")


def _run_cap() -> list[Finding]:
    runs = [agentic.RunRow("run-1", WF, NOW.date(), 3, D("4.20"), "USD")]
    capped = agentic.WorkflowConfig(WF, run_cost_cap=D(1))
    return agentic.run_cap_findings(runs, [_call("draft", "gpt-5")], [capped], MONTH)


def _token_budget() -> list[Finding]:
    budget = agentic.WorkflowConfig(WF, call_token_budget=1000)
    return agentic.token_budget_findings([_call("draft", "gpt-5", 9000)], [budget], MONTH)


def _escalation_gate() -> list[Finding]:
    gate = agentic.EscalationGate.parse(f"{WF}/draft=claude-haiku-4-5")
    return agentic.escalation_gate_findings([_call("draft", "claude-sonnet-4-5")], [gate], MONTH)


def _unpriced(rule: str) -> Callable[[], list[Finding]]:
    rows = [_spend(NOW.date(), "1", provider="openai", model="o9", unpriced_calls=3, zero_cost_calls=2)]
    return lambda: [f for f in dq.unpriced_findings(rows, MONTH, NOW) if f.rule == rule]


def _unattributed(dim: str) -> Callable[[], list[Finding]]:
    rows = {"workflow": [_spend(NOW.date(), "50", workflow="")], "team": [_spend(NOW.date(), "50", team="")]}
    policy = dq.DataQualityPolicy()
    return lambda: [f for f in dq.unattributed_findings(rows, MONTH, NOW, policy) if f.rule.endswith(dim)]


def _stale_source() -> list[Finding]:
    seen = NOW - timedelta(days=4)
    source = {"last_success_at": seen, "freshest_data_at": seen, "last_error": "401 Unauthorized"}
    return dq.stale_source_findings({"openai": source}, NOW, dq.DataQualityPolicy(), MONTH)


def _reconciliation() -> list[Finding]:
    days = _days(MONTH.start, date(2026, 11, 15))
    logs = [CallTotal("openai", day, "USD", "gpt-5", D(100), 1) for day in days]
    bills = [BillTotal("openai", day, "USD", D(150)) for day in days]
    return dq.reconciliation_findings(reconcile(bills, logs), MONTH, NOW, dq.DataQualityPolicy())


def _unit_economics() -> list[Finding]:
    return unit_economics({"chat": D(900)}, {"chat": FeatureRevenue(D(1000), None, "USD")}, D(900), "USD", MONTH)


def _unconverted() -> list[Finding]:
    reason = "no EUR -> USD rate for 2026-11-03: no rates file is configured"
    return dq.unconverted_findings([("EUR", date(2026, 11, 3), D(40), reason)], MONTH, NOW)


def _currency() -> list[Finding]:
    rows = [_spend(NOW.date(), "10", workflow=WF), _spend(NOW.date(), "10", workflow="w1", currency="EUR")]
    try:
        evaluate_share(rows, NOW, SharePolicy())
    except MixedCurrencyError as exc:  # what the evaluation turns a refusal into (core/governance/evaluate.py)
        return [currency_refusal("share", exc, MONTH)]
    raise AssertionError("the share rule accepted a mix of currencies")


CASES: dict[str, Callable[[], list[Finding]]] = {
    "threshold": _threshold,
    "share": _share,
    "new_entrant": _new_entrant,
    "change_wow": _change("week"),
    "change_mom": _change("month"),
    "run_cap": _run_cap,
    "token_budget": _token_budget,
    "escalation_gate": _escalation_gate,
    "dq_unpriced": _unpriced("dq_unpriced"),
    "dq_zero_cost": _unpriced("dq_zero_cost"),
    "dq_unattributed_workflow": _unattributed("workflow"),
    "dq_unattributed_team": _unattributed("team"),
    "dq_stale_source": _stale_source,
    "dq_reconciliation": _reconciliation,
    "dq_unconverted": _unconverted,
    "unit_economics": _unit_economics,
    "currency": _currency,
}


def alerting_findings() -> list[Finding]:
    found = []
    for kind, make in CASES.items():
        mine = [f for f in make() if f.level in (Level.YELLOW, Level.RED)]
        assert mine and {f.rule for f in mine} == {kind}, f"the {kind} case raises no {kind} alert"
        found += mine
    return found


def test_there_is_a_delivery_case_for_every_kind_the_rules_can_raise() -> None:
    """core/rules/findings.py lists every kind; a kind added there without a case here fails this test."""
    assert set(CASES) == ALERT_KINDS
    assert all(f.span is not None for f in alerting_findings())  # delivery reads the span, never a key


# --- every kind through delivery into (fake) Slack -----------------------------------------------------------


@pytest.fixture
def fake(fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


def slack_settings(fake: FakeSlack, **extra: Any) -> Settings:
    return bot_settings(fake.api_url, **extra)


CONFIG = GovernanceConfig(lifecycle=LifecyclePolicy(escalate_after=timedelta(hours=4), resend_every=timedelta(hours=2)))


def record(engine: Engine, findings: list[Finding], now: datetime) -> list[Notification]:
    with Session(engine, expire_on_commit=False) as session:
        created = apply_findings(session, findings, now=now, config=CONFIG, owners={WF: "U0OWNER"})
        session.commit()
    return created


def all_notifications(engine: Engine) -> list[Notification]:
    with Session(engine) as session:
        return list(session.exec(select(Notification).order_by(col(Notification.id))).all())


def test_every_kind_is_delivered_through_its_whole_life(engine: Engine, fake: FakeSlack) -> None:
    settings = slack_settings(fake)
    findings = alerting_findings()
    gate = next(f for f in findings if f.rule == "escalation_gate")
    assert gate.period == "2026-11/draft"  # the key that crashed delivery before findings carried a span

    raised = record(engine, findings, NOW)
    assert sorted(n.rule for n in raised) == sorted(f.rule for f in findings)
    first = deliver_notifications(engine, settings, NOW)
    assert (first.notifications, first.set_aside) == (len(findings), ())
    posts = [c.body for c in fake.of("chat.postMessage")]
    assert len(posts) == len(findings) and {p["channel"] for p in posts} == {"C0FIN"}
    with Session(engine) as session:
        stored = {m.alert_key: m for m in session.exec(select(AlertMessage)).all()}
    for finding in findings:  # one message per alert, with the dates its finding covers
        assert finding.span is not None
        key = f"{finding.rule}|{finding.scope.kind}:{finding.scope.key}|{finding.period}"
        period = stored[key].alert["period"]
        assert (period["start"], period["end"]) == (finding.span.start.isoformat(), finding.span.end.isoformat())
    assert stored[f"escalation_gate|workflow:{WF}|2026-11/draft"].alert["period"]["start"] == "2026-11-01"
    gate_post = next(p for p in posts if "escalation gate skipped" in p["text"])
    assert gate_post["text"].startswith("Yellow alert: workflow support-triage, escalation gate skipped")

    later = NOW + timedelta(hours=5)  # red ones escalate to leadership; every open one is reminded
    followed = record(engine, findings, later)
    reds = [f for f in findings if f.level is Level.RED]
    assert sorted(n.kind for n in followed) == sorted(["escalation"] * len(reds) + ["reminder"] * len(findings))
    second = deliver_notifications(engine, settings, later)
    assert (second.notifications, second.set_aside) == (len(followed), ())
    assert len([c for c in fake.of("chat.postMessage") if c.body["channel"] == "C0LEAD"]) == len(reds)

    recovered_at = later + timedelta(hours=1)
    recoveries = record(engine, [dataclasses.replace(f, level=Level.OK) for f in findings], recovered_at)
    assert sorted(n.rule for n in recoveries) == sorted(f.rule for f in findings if f.rule != "new_entrant")
    third = deliver_notifications(engine, settings, recovered_at)
    assert (third.notifications, third.set_aside) == (len(recoveries), ())
    finance = [m for m in fake.history["C0FIN"] if "thread_ts" not in m]
    assert sum(m["text"].startswith("Recovered") for m in finance) == len(recoveries)

    notes = all_notifications(engine)
    assert {n.kind for n in notes} == {"alert", "escalation", "reminder", "recovery"}
    assert all(n.delivered_at is not None and n.failed_at is None for n in notes)
    assert outbox_depth(engine) == 0


# --- one that cannot be delivered is set aside; the others go ------------------------------------------------


def stored_before_spans(
    engine: Engine, period: str, *, payload: dict[str, Any] | None = None, rule: str = "share"
) -> int:
    return pending_notification(engine, period, NOW - timedelta(days=1), rule=rule, scope_key=WF, payload=payload)


LOTS = {"amount": "lots", "currency": "USD"}  # not an amount


def test_an_undeliverable_notification_is_set_aside_and_never_blocks_the_others(
    engine: Engine, fake: FakeSlack
) -> None:
    settings = slack_settings(fake)
    # Oldest first, so each of these stood in front of the good ones.
    old_gate = stored_before_spans(engine, "2026-10/draft", rule="escalation_gate")  # readable: delivered
    old_week = stored_before_spans(engine, "2026-W47")  # readable: delivered
    unreadable = {
        stored_before_spans(engine, "last quarter", rule="run_cap"): "period key 'last quarter' names no month",
        stored_before_spans(engine, "2026-13", rule="token_budget"): "month must be in 1..12",
        stored_before_spans(engine, "2026-11", rule="dq_unpriced", payload={"span": {"kind": "month"}}): (
            "a period span needs kind, start and end"
        ),
        stored_before_spans(engine, "2026-11", rule="threshold", payload={"numbers": {"limits": {"yellow": LOTS}}}): (
            "InvalidOperation"
        ),
    }
    good = [f for f in alerting_findings() if f.rule in ("threshold", "share", "escalation_gate")]
    record(engine, good, NOW)

    result = deliver_notifications(engine, settings, NOW)
    tried = len(all_notifications(engine))
    assert (tried, result.notifications, len(result.set_aside)) == (2 + len(unreadable) + len(good), 2 + len(good), 4)
    assert {s.id for s in result.set_aside} == set(unreadable)
    for failed in result.set_aside:
        assert unreadable[failed.id] in failed.reason and failed.line.startswith(f"notification {failed.id} (")
    by_id = {n.id: n for n in all_notifications(engine)}
    for note_id, why in unreadable.items():  # persisted as failed, with the reason; not delivered
        assert by_id[note_id].delivered_at is None and by_id[note_id].failed_at is not None
        assert why in (by_id[note_id].failure or "")
    assert by_id[old_gate].delivered_at is not None and by_id[old_week].delivered_at is not None
    with Session(engine) as session:
        week = session.get(AlertMessage, f"share|workflow:{WF}|2026-W47")
        assert week is not None and week.alert["period"]["start"] == "2026-11-16"
        assert [n.id for n in store.set_aside_notifications(session)] == sorted(unreadable)
    assert len(fake.of("chat.postMessage")) == 2 + len(good)
    assert outbox_depth(engine) == 0  # set aside is not "waiting"

    again = deliver_notifications(engine, settings, NOW + timedelta(minutes=5))  # never retried
    assert (again.notifications, again.sent, again.set_aside) == (0, 0, ())


def test_a_set_aside_notification_is_never_claimed_by_a_deliverer_that_listed_it_before(engine: Engine) -> None:
    note = stored_before_spans(engine, "someday")
    with Session(engine) as session:
        assert set_aside(session, note, at=NOW, reason="ValueError: unreadable")
        session.commit()
    with Session(engine) as session:
        assert not claim_delivery(session, note, at=NOW)
        assert not set_aside(session, note, at=NOW, reason="again")  # the first reason stays
        session.rollback()
    [kept] = all_notifications(engine)
    assert (kept.delivered_at, kept.failure) == (None, "ValueError: unreadable")


def test_old_period_keys_are_read_with_or_without_a_qualifier() -> None:
    assert period_from_key("2026-12/draft") == period_of("month", date(2026, 12, 1))
    assert period_from_key("2026-W53") == period_of("week", date(2026, 12, 28))
    assert period_from_key("2026-11-30/x/y") == period_of("day", date(2026, 11, 30))
    for bad in ("", "2026", "2026-13", "2026-W54", "26-11", "2026-11-31", "2026-11draft", "2026-11 "):
        with pytest.raises(ValueError, match="period key"):
            period_from_key(bad)


# --- where it is reported: evaluate, the scheduled job, /aispend sync -----------------------------------------


GATE = f"{WF}/draft=claude-haiku-4-5"
END = date(2026, 11, 15)


def demo(engine: Engine) -> datetime:
    """The demo company's data, ending on END (its runaway drafts on a frontier model); the evaluation's `now`."""
    load_demo(engine, end=END, now=datetime(2026, 10, 1, tzinfo=UTC), days=14)
    return datetime.combine(END - timedelta(days=1), time(23), UTC)


def test_evaluate_with_an_escalation_gate_on_the_demo_delivers_and_reports_set_aside(
    engine: Engine, database_url: str
) -> None:
    now = demo(engine)
    env = {"AISPEND_ESCALATION_GATES": GATE, "SLACK_BOT_TOKEN": ""}
    first = run_cli(["evaluate", "--json", "--at", now.isoformat()], database_url, **env)
    assert first.exit_code == 0, first.output  # before: ValueError: Invalid isoformat string: '2026-11/draft'
    data = json.loads(first.stdout)
    gate = [n for n in data["new_notifications"] if n["rule"] == "escalation_gate"]
    assert [n["period"] for n in gate] == ["2026-11/draft"] and data["set_aside"] == []
    assert gate[0]["finding"]["span"] == {"kind": "month", "start": "2026-11-01", "end": "2026-12-01"}
    assert f"Yellow alert: workflow {RUNAWAY_WORKFLOW}, escalation gate skipped" in first.stderr

    broken = stored_before_spans(engine, "not a period")
    second = run_cli(["evaluate", "--json", "--at", now.isoformat()], database_url, **env)
    assert second.exit_code == 0, second.output
    [aside] = json.loads(second.stdout)["set_aside"]
    assert (aside["id"], aside["dedupe_key"]) == (broken, f"share|workflow:{WF}|not a period|yellow")
    assert "names no month" in aside["reason"]
    assert f"notification {broken} (share|workflow:{WF}|not a period|yellow) set aside: ValueError:" in second.stderr
    assert "0 notification(s) handed to Slack, 0 message(s) sent, 1 set aside" in second.stderr

    third = run_cli(["evaluate", "--json", "--at", now.isoformat()], database_url)  # the gate setting removed
    assert third.exit_code == 0, third.output
    assert json.loads(third.stdout)["set_aside"] == [] and "set aside" not in third.stderr


def test_the_scheduled_job_and_slack_sync_report_what_was_set_aside(engine: Engine, fake: FakeSlack) -> None:
    from aispend.app import build_registry, slack_edge
    from aispend.jobs.catalog import EVALUATE
    from aispend.jobs.registry import JobContext

    now = demo(engine)
    settings = slack_settings(fake, escalation_gates=GATE)
    broken = stored_before_spans(engine, "2026-11/draft/", rule="escalation_gate", payload={"span": "November"})
    edge = slack_edge(settings, engine, lambda: now)
    body = build_registry(settings, edge, lambda: now).body(EVALUATE)
    assert body is not None
    context = JobContext(
        name=EVALUATE, settings=settings, engine=engine, now=now, slot=now, notifier=edge.notifier, clock=lambda: now
    )
    result = body(context)
    expected = f", 1 set aside (escalation_gate|workflow:{WF}|2026-11/draft/|yellow: ValueError: a period span"
    assert expected in result.summary
    assert [s["id"] for s in result.data["set_aside"]] == [broken]
    gate_posts = [c for c in fake.of("chat.postMessage") if "escalation gate skipped" in c.body["text"]]
    assert len(gate_posts) == 1  # the evaluation's own gate alert went out beside it
    assert body(context).data["set_aside"] == []  # reported once, not tried again

    # `/aispend sync`: its reply names the one set aside; the alerts themselves are in the channel.
    later = now + timedelta(minutes=10)
    second = stored_before_spans(engine, "someday", rule="share")
    wired = wire(settings, engine, lambda: later, stream=io.StringIO())
    assert wired.bot.commands.sync is not None
    reply = wired.bot.commands.sync(later)
    assert f"governance: notification {second} (share|workflow:{WF}|someday|yellow) set aside: ValueError:" in reply
    assert _delivered(evaluate_and_deliver(engine, settings, later, alerts=wired.bot.alerts)).set_aside == ()


def _delivered(done: Evaluated) -> DeliveryResult:
    assert done.delivered is not None
    return done.delivered
