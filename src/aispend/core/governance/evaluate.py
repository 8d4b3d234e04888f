"""Evaluation: read the ledger, run every rule for `now`, advance the alert lifecycle, record notifications.

Idempotent: evaluating again with the same data and `now` changes no level and creates no
notification. Run it at the end of every sync and on its own schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from aispend.core.governance import queries
from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.models import AlertState, Notification
from aispend.core.governance.revenue import month_revenue
from aispend.core.governance.store import DeliveryResult, insert_notification, thresholds_as_rules
from aispend.core.ledger.db import session_scope
from aispend.core.ledger.queries import sync_states
from aispend.core.reports.reconcile import reconcile_period
from aispend.core.rules.agentic import escalation_gate_findings, run_cap_findings, token_budget_findings
from aispend.core.rules.change import change_windows, evaluate_changes
from aispend.core.rules.data_quality import (
    reconciliation_findings,
    stale_source_findings,
    unattributed_findings,
    unconverted_findings,
    unpriced_findings,
)
from aispend.core.rules.findings import SCOPE_KINDS, Finding, Level, MixedCurrencyError, currency_refusal
from aispend.core.rules.forecast import HISTORY_DAYS
from aispend.core.rules.lifecycle import AlertStatus, advance
from aispend.core.rules.periods import period_of
from aispend.core.rules.share import evaluate_share
from aispend.core.rules.spend import SpendIndex
from aispend.core.rules.thresholds import evaluate_thresholds
from aispend.core.rules.unit_economics import unit_economics
from aispend.core.settings import Settings
from aispend.core.timeutil import as_utc


@dataclass
class EvaluationResult:
    at: datetime
    findings: list[Finding]
    new_notifications: list[Notification] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Evaluated:
    """One evaluation and the delivery of its notifications (None: left pending, not delivered)."""

    result: EvaluationResult
    delivered: DeliveryResult | None


def collect_findings(session: Session, *, now: datetime, config: GovernanceConfig) -> tuple[list[Finding], list[str]]:
    """Every rule's findings for `now` (pure rules fed by the ledger). A rule that meets mixed
    currencies is refused: its error becomes a red `currency` finding and the other rules still run."""
    now = as_utc(now)
    today = now.date()
    period = period_of(config.period_kind, today)
    thresholds = thresholds_as_rules(session)
    end = today + timedelta(days=1)
    counting = config.spend
    wfs = queries.workflows(session)

    findings: list[Finding] = []
    errors: list[str] = []

    def run(name: str, rule: Callable[[], list[Finding]]) -> None:
        try:
            findings.extend(rule())
        except MixedCurrencyError as exc:
            errors.append(str(exc))
            findings.append(currency_refusal(name, exc, period))

    # Sums happen in SQL, in as few scans of the rollups as possible: daily totals by team, by
    # workflow and by (provider, model) serve thresholds (the company is the sum over teams), share,
    # data quality and reconciliation; one per-window query per change comparison.
    # From the previous period (new entrants) or the forecast's 28-day history, whichever is earlier.
    starts = [period.previous().start, today - timedelta(days=HISTORY_DAYS)]
    start = min(starts + [period_of(t.period_kind, today).start for t in thresholds])
    by_team = queries.spend_rows(session, policy=counting, windows=[(start, end)], dims=["team"])
    by_workflow = queries.spend_rows(session, policy=counting, windows=[(start, end)], dims=["workflow"])
    by_model = queries.spend_rows(session, policy=counting, windows=[(start, end)], dims=["provider", "model"])
    if thresholds:
        marginals = {
            "company": by_team,
            "team": by_team,
            "workflow": by_workflow,
            "provider": by_model,
            "model": by_model,
        }
        index = SpendIndex.from_kinds({t.scope.kind: marginals[t.scope.kind] for t in thresholds})
        run("threshold", lambda: evaluate_thresholds(index, thresholds, now))
    run("share", lambda: evaluate_share(by_workflow, now, config.share))
    for policy in config.changes:
        win = change_windows(policy.period_kind, now).comparison
        dims = ["provider", "model", "workflow", "team"]
        usage = queries.spend_rows(
            session, policy=counting, windows=[win.previous, win.current], dims=dims, by_day=False, counts=True
        )
        before = queries.run_counts(session, start=win.previous[0], end=win.previous[1])
        after = queries.run_counts(session, start=win.current[0], end=win.current[1])
        counts = {("workflow", k): (before.get(k, 0), after.get(k, 0)) for k in set(before) | set(after)}
        counts[("company", "")] = (sum(before.values()), sum(after.values()))
        rule = partial(evaluate_changes, usage, now, policy, SCOPE_KINDS, counts)
        run(f"change_{policy.period_kind}", rule)

    agentic = {k for k, w in wfs.items() if w.run_cost_cap is not None or w.call_token_budget is not None}
    agentic |= {g.workflow for g in config.gates}
    call_rows = queries.calls(session, start=period.start, end=end, workflows=agentic)
    run_rows = queries.runs(session, start=period.start, end=end)
    run("run_cap", lambda: run_cap_findings(run_rows, call_rows, wfs.values(), period))
    run("token_budget", lambda: token_budget_findings(call_rows, wfs.values(), period))
    run("escalation_gate", lambda: escalation_gate_findings(call_rows, config.gates, period))

    dq = config.data_quality
    attribution = {"workflow": by_workflow, "team": by_team}
    run("dq_unattributed", lambda: unattributed_findings(attribution, period, now, dq))
    run("dq_stale_source", lambda: stale_source_findings(sync_states(session.connection()), now, dq, period))
    logged = queries.logged_rows(session, windows=[(start, end)], dims=["provider", "model"])
    run("dq_unpriced", lambda: unpriced_findings(logged, period, now))
    missing = queries.unconverted(session, policy=counting, start=period.start, end=end)
    run("dq_unconverted", lambda: unconverted_findings(missing, period, now))
    recon = reconcile_period(session.connection(), start=period.start, end=end, basis=counting.basis)
    run("dq_reconciliation", lambda: reconciliation_findings(recon, period, now, dq))
    # Revenue for a month is usually entered after it closes: the month before counts too (its
    # complete days), each month its own alert period, so an import for either raises its alert once.
    current = period_of("month", today)
    for month in (current.previous(), current):
        entered = month_revenue(session, month.start, policy=counting)
        errors.extend(f"{month.key}: {u}" for u in entered.unconverted)
        revenue = entered.by_feature
        if not revenue:  # unit economics only when Finance entered revenue for the month
            continue
        until = min(month.end, end)
        by_feature = queries.spend_rows(
            session, policy=counting, windows=[(month.start, until)], dims=["feature"], by_day=False
        )
        costs = {r.feature: r.cost for r in by_feature}
        total = sum(costs.values(), Decimal(0))
        run("unit_economics", partial(unit_economics, costs, revenue, total, config.currency, month))
    return findings, errors


def _status(state: AlertState) -> AlertStatus:
    return AlertStatus(
        level=Level(state.level),
        since=state.since,
        acked_by=state.acked_by,
        acked_at=state.acked_at,
        snoozed_until=state.snoozed_until,
        escalated_at=state.escalated_at,
    )


def apply_findings(
    session: Session,
    findings: list[Finding],
    *,
    now: datetime,
    config: GovernanceConfig,
    owners: dict[str, str] | None = None,
) -> list[Notification]:
    """Advance each (rule, scope, period) state and record the notifications that do not exist yet."""
    now = as_utc(now)
    alerting = [f for f in findings if f.level is not Level.INFO]
    periods = {f.period for f in alerting}
    existing: dict[tuple[str, str, str, str], AlertState] = {}
    if periods:
        stmt = select(AlertState).where(col(AlertState.period).in_(sorted(periods)))
        for state in session.execute(stmt).scalars():
            existing[(state.rule, state.scope_kind, state.scope_key, state.period)] = state
    created: list[Notification] = []
    for finding in alerting:
        state = existing.get(finding.alert_key)
        status, drafts = advance(_status(state) if state else None, finding, now, config.lifecycle)
        if state is None:
            state = AlertState(
                rule=finding.rule,
                scope_kind=finding.scope.kind,
                scope_key=finding.scope.key,
                period=finding.period,
                level=status.level.value,
                since=status.since,
                evaluated_at=now,
            )
            session.add(state)
            existing[finding.alert_key] = state
        state.level = status.level.value
        state.since = status.since
        state.basis = finding.basis
        state.summary = finding.summary[:2000]
        state.numbers = finding.numbers
        state.evaluated_at = now
        state.acked_by, state.acked_at = status.acked_by, status.acked_at
        state.snoozed_until, state.escalated_at = status.snoozed_until, status.escalated_at
        for draft in drafts:
            owner = (owners or {}).get(finding.scope.key, "") if finding.scope.kind == "workflow" else ""
            note = insert_notification(session, draft, now=now, owner=owner)
            if note is not None:
                created.append(note)
    session.flush()
    return created


def evaluate(engine: Engine, *, now: datetime, config: GovernanceConfig) -> EvaluationResult:
    """One evaluation in one transaction."""
    with session_scope(engine) as session:
        findings, errors = collect_findings(session, now=now, config=config)
        owners = {k: w.owner for k, w in queries.workflows(session).items() if w.owner}
        created = apply_findings(session, findings, now=now, config=config, owners=owners)
    return EvaluationResult(at=as_utc(now), findings=findings, new_notifications=created, errors=errors)


def evaluate_with_settings(engine: Engine, settings: Settings, *, now: datetime) -> EvaluationResult:
    """What a sync job calls when it finishes (and the scheduler on its own timer)."""
    return evaluate(engine, now=now, config=GovernanceConfig.from_settings(settings))
