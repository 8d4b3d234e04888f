"""Read-only views for `aispend report status|changes|agents`: findings for `now`, nothing persisted."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlmodel import Session

from aispend.core.governance import queries
from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.evaluate import collect_findings
from aispend.core.governance.store import thresholds_as_rules
from aispend.core.rules.agentic import (
    cost_per_outcome,
    escalation_gate_findings,
    run_cap_findings,
    token_budget_findings,
)
from aispend.core.rules.change import ChangePolicy
from aispend.core.rules.findings import COMPANY, Finding, severity
from aispend.core.rules.forecast import HISTORY_DAYS, Forecast, forecast_period
from aispend.core.rules.periods import period_of
from aispend.core.rules.share import evaluate_share
from aispend.core.rules.spend import SpendIndex, total_by
from aispend.core.rules.thresholds import evaluate_thresholds
from aispend.core.timeutil import as_utc


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-severity(f.level), f.rule, f.scope, f.period))


def status(session: Session, *, now: datetime, config: GovernanceConfig) -> list[Finding]:
    findings, _ = collect_findings(session, now=now, config=config)
    return _ordered(findings)


def changes(session: Session, *, now: datetime, config: GovernanceConfig, period_kind: str) -> list[Finding]:
    policy = next((p for p in config.changes if p.period_kind == period_kind), ChangePolicy(period_kind))
    only = replace(config, changes=(policy,))
    findings, _ = collect_findings(session, now=now, config=only)
    return _ordered([f for f in findings if f.rule.startswith("change_")])


def agents(session: Session, *, now: datetime, config: GovernanceConfig) -> list[Finding]:
    today = as_utc(now).date()
    period = period_of(config.period_kind, today)
    end = today + timedelta(days=1)
    wfs = queries.workflows(session)
    runs = queries.runs(session, start=period.start, end=end)
    names = {r.workflow for r in runs} | set(wfs) | {g.workflow for g in config.gates}
    calls = queries.calls(session, start=period.start, end=end, workflows=names)
    spend = queries.load_spend(session, start=period.start, end=end, policy=config.spend)
    per_workflow = total_by(spend, "workflow", period.start, end)
    findings = run_cap_findings(runs, calls, wfs.values(), period)
    findings += token_budget_findings(calls, wfs.values(), period)
    findings += escalation_gate_findings(calls, config.gates, period)
    findings += cost_per_outcome(
        runs, queries.outcomes(session, start=period.start, end=end), per_workflow, wfs, period, config.currency
    )
    return _ordered(findings)


def colour_findings(session: Session, *, now: datetime, config: GovernanceConfig) -> list[Finding]:
    """Only what a scope's colour needs (thresholds and share of spend): cheap enough for every
    `/aispend workflow` and App Home, where the full rule set would be too slow."""
    today = as_utc(now).date()
    end = today + timedelta(days=1)
    thresholds = thresholds_as_rules(session)
    period = period_of(config.period_kind, today)
    start = min(
        [period.start, today - timedelta(days=HISTORY_DAYS)]
        + [period_of(t.period_kind, today).start for t in thresholds]
    )
    counting = config.spend
    by_workflow = queries.spend_rows(session, policy=counting, windows=[(start, end)], dims=["workflow"])
    findings = evaluate_share(by_workflow, now, config.share)
    if thresholds:
        kinds = {t.scope.kind for t in thresholds}
        rows = {"workflow": by_workflow}
        if kinds & {"company", "team"}:
            rows["team"] = queries.spend_rows(session, policy=counting, windows=[(start, end)], dims=["team"])
        if kinds & {"provider", "model"}:
            rows["model"] = queries.spend_rows(
                session, policy=counting, windows=[(start, end)], dims=["provider", "model"]
            )
        source_of = {"company": "team", "team": "team", "workflow": "workflow", "provider": "model", "model": "model"}
        index = SpendIndex.from_kinds({t.scope.kind: rows[source_of[t.scope.kind]] for t in thresholds})
        findings += evaluate_thresholds(index, thresholds, now)
    return findings


def company_forecast(session: Session, *, now: datetime, config: GovernanceConfig) -> tuple[Forecast, str] | None:
    """The company's spend so far in the current period and its period-end forecast, with the currency;
    None when nothing was spent in the forecast's window."""
    today = as_utc(now).date()
    period = period_of(config.period_kind, today)
    start = min(period.start, today - timedelta(days=HISTORY_DAYS))
    rows = queries.spend_rows(session, policy=config.spend, windows=[(start, today + timedelta(days=1))], dims=["team"])
    index = SpendIndex.from_kinds({"company": rows})
    currency = index.currency(COMPANY)
    if currency is None:
        return None
    return forecast_period(index.daily(COMPANY), period, now), currency
