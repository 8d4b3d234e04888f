"""Read-only views for `aispend report status|changes|agents`: findings for `now`, nothing persisted."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlmodel import Session

from aispend.core.timeutil import as_utc
from aispend.governance import queries
from aispend.governance.config import GovernanceConfig
from aispend.governance.evaluate import collect_findings
from aispend.rules.agentic import (
    cost_per_outcome,
    escalation_gate_findings,
    run_cap_findings,
    token_budget_findings,
)
from aispend.rules.change import ChangePolicy
from aispend.rules.findings import Finding, severity
from aispend.rules.periods import period_of
from aispend.rules.spend import total_by


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-severity(f.level), f.rule, f.scope, f.period))


def status(session: Session, now: datetime, config: GovernanceConfig) -> list[Finding]:
    findings, _ = collect_findings(session, now, config)
    return _ordered(findings)


def changes(session: Session, now: datetime, config: GovernanceConfig, period_kind: str) -> list[Finding]:
    policy = next((p for p in config.changes if p.period_kind == period_kind), ChangePolicy(period_kind))
    only = replace(config, changes=(policy,))
    findings, _ = collect_findings(session, now, only)
    return _ordered([f for f in findings if f.rule.startswith("change_")])


def agents(session: Session, now: datetime, config: GovernanceConfig) -> list[Finding]:
    today = as_utc(now).date()
    period = period_of(config.period_kind, today)
    end = today + timedelta(days=1)
    wfs = queries.workflows(session)
    runs = queries.runs(session, period.start, end)
    names = {r.workflow for r in runs} | set(wfs) | {g.workflow for g in config.gates}
    calls = queries.calls(session, period.start, end, names)
    spend = queries.load_spend(session, period.start, end, config.spend_source)
    per_workflow = total_by(spend, "workflow", period.start, end)
    findings = run_cap_findings(runs, calls, wfs.values(), period)
    findings += token_budget_findings(calls, wfs.values(), period)
    findings += escalation_gate_findings(calls, config.gates, period)
    findings += cost_per_outcome(
        runs, queries.outcomes(session, period.start, end), per_workflow, wfs, period, config.currency
    )
    return _ordered(findings)
