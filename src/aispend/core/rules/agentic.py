"""Agentic controls: per-run cost caps, per-call token budgets, escalation gates, cost per run/outcome."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from aispend.core.money import format_money
from aispend.core.rules.findings import Finding, Level, Scope, money, one_currency
from aispend.core.rules.periods import Period

ZERO = Decimal(0)
MAX_LISTED = 20


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    workflow: str
    day: date
    calls: int
    cost: Decimal
    currency: str
    outcome: str = ""


@dataclass(frozen=True, slots=True)
class CallRow:
    ts: datetime
    workflow: str
    run_id: str
    step: str
    model: str
    input_tokens: int
    output_tokens: int
    cost: Decimal | None
    currency: str
    prompt_prefix_hash: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowConfig:
    key: str
    run_cost_cap: Decimal | None = None
    call_token_budget: int | None = None
    currency: str = "USD"
    outcome_unit: str = ""
    owner: str = ""
    team: str = ""


@dataclass(frozen=True, slots=True)
class EscalationGate:
    """In `workflow`, step `step` should start on `cheap_model` and escalate only when needed."""

    workflow: str
    step: str
    cheap_model: str

    @classmethod
    def parse(cls, text: str) -> EscalationGate:
        """`workflow/step=model`, e.g. `support-triage/classify=gpt-4o-mini`."""
        left, sep, model = text.partition("=")
        workflow, slash, step = left.partition("/")
        if not sep or not slash or not workflow.strip() or not step.strip() or not model.strip():
            raise ValueError(f"escalation gate must look like workflow/step=model, got {text!r}")
        return cls(workflow.strip(), step.strip(), model.strip())


def _steps_and_models(calls: Iterable[CallRow]) -> dict[str, tuple[set[str], set[str]]]:
    out: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for call in calls:
        if call.run_id:
            out[call.run_id][0].add(call.step)
            out[call.run_id][1].add(call.model)
    return out


def run_cap_findings(
    runs: Sequence[RunRow], calls: Sequence[CallRow], workflows: Iterable[WorkflowConfig], period: Period
) -> list[Finding]:
    """Red when any run of a capped workflow cost more than its cap in the period; the runs listed."""
    detail = _steps_and_models(calls)
    findings = []
    for wf in workflows:
        if wf.run_cost_cap is None:
            continue
        mine = [r for r in runs if r.workflow == wf.key and period.contains(r.day)]
        one_currency((r.currency for r in mine), where=f"runs of workflow {wf.key}", expected=wf.currency)
        over = sorted((r for r in mine if r.cost > wf.run_cost_cap), key=lambda r: (-r.cost, r.run_id))
        listed = [
            {
                "run_id": r.run_id,
                "day": r.day.isoformat(),
                "calls": r.calls,
                "cost": money(r.cost, r.currency),
                "steps": sorted(detail.get(r.run_id, (set(), set()))[0]),
                "models": sorted(detail.get(r.run_id, (set(), set()))[1]),
            }
            for r in over[:MAX_LISTED]
        ]
        cap = format_money(wf.run_cost_cap, wf.currency)
        summary = f"workflow {wf.key}: {len(over)} of {len(mine)} runs cost more than the {cap} cap in {period.key}" + (
            f" (worst {listed[0]['run_id']}: {format_money(over[0].cost, wf.currency)})" if over else ""
        )
        findings.append(
            Finding(
                "run_cap",
                Scope("workflow", wf.key),
                period.key,
                Level.RED if over else Level.OK,
                summary,
                {
                    "cap": money(wf.run_cost_cap, wf.currency),
                    "runs": len(mine),
                    "runs_over_cap": len(over),
                    "listed": listed,
                },
                span=period,
            )
        )
    return findings


def token_budget_findings(
    calls: Sequence[CallRow], workflows: Iterable[WorkflowConfig], period: Period
) -> list[Finding]:
    """Yellow when calls exceed the workflow's per-call token budget; counted by step."""
    findings = []
    for wf in workflows:
        if wf.call_token_budget is None:
            continue
        mine = [c for c in calls if c.workflow == wf.key and period.contains(c.ts.date())]
        by_step: dict[str, int] = defaultdict(int)
        for call in mine:
            if call.input_tokens + call.output_tokens > wf.call_token_budget:
                by_step[call.step] += 1
        over = sum(by_step.values())
        findings.append(
            Finding(
                "token_budget",
                Scope("workflow", wf.key),
                period.key,
                Level.YELLOW if over else Level.OK,
                f"workflow {wf.key}: {over} of {len(mine)} calls over the "
                f"{wf.call_token_budget:,}-token budget "
                f"in {period.key}",
                {
                    "budget_tokens": wf.call_token_budget,
                    "calls": len(mine),
                    "calls_over_budget": over,
                    "by_step": dict(sorted(by_step.items())),
                },
                span=period,
            )
        )
    return findings


def escalation_gate_findings(
    calls: Sequence[CallRow], gates: Iterable[EscalationGate], period: Period
) -> list[Finding]:
    """Runs whose first call for a gated step went to another model than the configured cheap one."""
    findings = []
    for gate in gates:
        first: dict[str, CallRow] = {}
        for call in calls:
            if call.workflow != gate.workflow or call.step != gate.step or not call.run_id:
                continue
            if not period.contains(call.ts.date()):
                continue
            seen = first.get(call.run_id)
            if seen is None or (call.ts, call.model) < (seen.ts, seen.model):
                first[call.run_id] = call
        skipped = sorted((c for c in first.values() if c.model != gate.cheap_model), key=lambda c: c.run_id)
        models: dict[str, int] = defaultdict(int)
        for call in skipped:
            models[call.model] += 1
        findings.append(
            Finding(
                "escalation_gate",
                Scope("workflow", gate.workflow),
                f"{period.key}/{gate.step}",
                Level.YELLOW if skipped else Level.OK,
                f"workflow {gate.workflow}, step {gate.step}: {len(skipped)} of {len(first)} runs went "
                f"to another "
                f"model before {gate.cheap_model} in {period.key}",
                {
                    "step": gate.step,
                    "cheap_model": gate.cheap_model,
                    "runs": len(first),
                    "runs_skipping_gate": len(skipped),
                    "first_models": dict(sorted(models.items())),
                    "run_ids": [c.run_id for c in skipped[:MAX_LISTED]],
                },
                span=period,
            )
        )
    return findings


def cost_per_outcome(
    runs: Sequence[RunRow],
    outcomes: Mapping[str, int],
    workflow_cost: Mapping[str, Decimal],
    workflows: Mapping[str, WorkflowConfig],
    period: Period,
    currency: str,
) -> list[Finding]:
    """Cost per run and per outcome for each workflow with runs or outcomes (report only).

    Cost per outcome divides the workflow's whole cost in the period (runs that produced nothing
    included) by its outcomes; the cost of runs without an outcome is shown beside it."""
    by_wf: dict[str, list[RunRow]] = defaultdict(list)
    for run in runs:
        if period.contains(run.day):
            by_wf[run.workflow].append(run)
    findings = []
    for key in sorted(set(by_wf) | {k for k, v in outcomes.items() if v}):
        mine = by_wf.get(key, [])
        one_currency([r.currency for r in mine], where=f"runs of workflow {key}", expected=currency)
        run_cost = sum((r.cost for r in mine), ZERO)
        total = workflow_cost.get(key, run_cost)
        no_outcome = [r for r in mine if not r.outcome]
        count = outcomes.get(key, 0)
        unit = workflows[key].outcome_unit if key in workflows and workflows[key].outcome_unit else "outcome"
        per_run = run_cost / len(mine) if mine else None
        per_outcome = total / count if count else None
        text = f"workflow {key}: {len(mine)} runs"
        if per_run is not None:
            text += f", {format_money(per_run, currency)} per run"
        if per_outcome is not None:
            text += f", {format_money(per_outcome, currency)} per {unit}"
        else:
            text += f", no {unit} recorded"
        if no_outcome:
            text += (
                f"; {len(no_outcome)} runs without an outcome cost "
                f"{format_money(sum((r.cost for r in no_outcome), ZERO), currency)}"
            )
        findings.append(
            Finding(
                "cost_per_outcome",
                Scope("workflow", key),
                period.key,
                Level.INFO,
                text,
                {
                    "runs": len(mine),
                    "run_cost": money(run_cost, currency),
                    "workflow_cost": money(total, currency),
                    "cost_per_run": money(per_run, currency) if per_run is not None else None,
                    "outcomes": count,
                    "outcome_unit": unit,
                    "cost_per_outcome": money(per_outcome, currency) if per_outcome is not None else None,
                    "runs_without_outcome": len(no_outcome),
                    "cost_of_runs_without_outcome": money(sum((r.cost for r in no_outcome), ZERO), currency),
                },
                span=period,
            )
        )
    return findings
