"""Ledger reads for governance, in one module so they can later be unified with the report queries.

Every function takes a Session and returns plain rule inputs (see aispend.rules.*); sums happen in SQL.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from aispend.core.timeutil import start_of_day
from aispend.ledger.models import AgentRun, CallRecord, CallRollup, CostLine, Outcome, SyncState, Workflow
from aispend.rules.agentic import CallRow, RunRow, WorkflowConfig
from aispend.rules.data_quality import BillTotal, SourceState
from aispend.rules.spend import SpendRow

ZERO = Decimal(0)


def _columns(model: Any) -> Any:
    """The table's columns (typed loosely: SQLModel types attributes as their Python values)."""
    return model.__table__.c


def spend_from_calls(
    session: Session, start: date, end: date, *, with_feature: bool = False
) -> list[SpendRow]:
    """Daily spend per provider/model/workflow/team (and feature) from hourly call rollups, [start, end)."""
    r = _columns(CallRollup)
    dims = [r.day, r.provider, r.model, r.workflow, r.team, r.currency] + (
        [r.feature] if with_feature else []
    )
    stmt = (
        select(
            *dims,
            func.sum(r.cost),
            func.sum(r.calls),
            func.sum(r.input_tokens),
            func.sum(r.output_tokens),
            func.sum(r.cache_read_tokens),
            func.sum(r.cache_write_tokens),
            func.sum(r.unpriced_calls),
            func.sum(r.zero_cost_calls),
        )
        .where(r.day >= start, r.day < end)
        .group_by(*dims)
    )
    rows = []
    for row in session.execute(stmt):
        day, provider, model, workflow, team, currency = row[:6]
        feature = row[6] if with_feature else ""
        cost, calls, inp, out, cread, cwrite, unpriced, zero = row[-8:]
        rows.append(
            SpendRow(
                day=day,
                cost=cost if cost is not None else ZERO,
                currency=currency,
                provider=provider,
                model=model,
                workflow=workflow,
                team=team,
                feature=feature,
                calls=int(calls or 0),
                input_tokens=int(inp or 0),
                output_tokens=int(out or 0),
                cache_read_tokens=int(cread or 0),
                cache_write_tokens=int(cwrite or 0),
                unpriced_calls=int(unpriced or 0),
                zero_cost_calls=int(zero or 0),
            )
        )
    return rows


def spend_from_bills(
    session: Session, start: date, end: date, *, with_feature: bool = False
) -> list[SpendRow]:
    """Daily AI spend from bill lines (is_ai), [start, end): for companies without per-call logs."""
    c = _columns(CostLine)
    dims = [c.charge_day, c.provider, c.model, c.workflow, c.team, c.billing_currency] + (
        [c.feature] if with_feature else []
    )
    stmt = (
        select(*dims, func.sum(c.billed_cost))
        .where(c.is_ai.is_(True), c.charge_day >= start, c.charge_day < end)
        .group_by(*dims)
    )
    out = []
    for row in session.execute(stmt):
        out.append(
            SpendRow(
                day=row[0],
                provider=row[1],
                model=row[2],
                workflow=row[3],
                team=row[4],
                currency=row[5],
                feature=row[6] if with_feature else "",
                cost=row[-1] if row[-1] is not None else ZERO,
            )
        )
    return out


def load_spend(
    session: Session, start: date, end: date, source: str, *, with_feature: bool = False
) -> list[SpendRow]:
    if source == "bills":
        return spend_from_bills(session, start, end, with_feature=with_feature)
    if source == "calls":
        return spend_from_calls(session, start, end, with_feature=with_feature)
    raise ValueError(f"AISPEND_GOVERNANCE_SPEND_SOURCE must be calls or bills, got {source!r}")


def bill_totals(session: Session, start: date, end: date) -> list[BillTotal]:
    c = _columns(CostLine)
    stmt = (
        select(c.provider, c.charge_day, c.billing_currency, func.sum(c.billed_cost))
        .where(c.is_ai.is_(True), c.charge_day >= start, c.charge_day < end)
        .group_by(c.provider, c.charge_day, c.billing_currency)
    )
    return [
        BillTotal(provider=p, day=d, currency=cur, cost=total if total is not None else ZERO)
        for p, d, cur, total in session.execute(stmt)
    ]


def runs(session: Session, start: date, end: date) -> list[RunRow]:
    a = _columns(AgentRun)
    stmt = select(a.run_id, a.workflow, a.day, a.calls, a.cost, a.currency, a.outcome).where(
        a.day >= start, a.day < end
    )
    return [
        RunRow(run_id=r[0], workflow=r[1], day=r[2], calls=int(r[3]), cost=r[4], currency=r[5], outcome=r[6])
        for r in session.execute(stmt)
    ]


def run_counts(session: Session, start: date, end: date) -> dict[str, int]:
    """Runs per workflow started in [start, end)."""
    a = _columns(AgentRun)
    stmt = select(a.workflow, func.count()).where(a.day >= start, a.day < end).group_by(a.workflow)
    return {wf: int(n) for wf, n in session.execute(stmt)}


def calls(session: Session, start: date, end: date, workflows: set[str]) -> list[CallRow]:
    """Raw calls of the given workflows in [start, end) (only what retention still holds)."""
    if not workflows:
        return []
    c = _columns(CallRecord)
    stmt = select(
        c.ts,
        c.workflow,
        c.run_id,
        c.step,
        c.model,
        c.input_tokens,
        c.output_tokens,
        c.cost,
        c.currency,
        c.prompt_prefix_hash,
    ).where(c.ts >= start_of_day(start), c.ts < start_of_day(end), c.workflow.in_(sorted(workflows)))
    return [
        CallRow(
            ts=r[0],
            workflow=r[1],
            run_id=r[2],
            step=r[3],
            model=r[4],
            input_tokens=int(r[5]),
            output_tokens=int(r[6]),
            cost=r[7],
            currency=r[8],
            prompt_prefix_hash=r[9],
        )
        for r in session.execute(stmt)
    ]


def outcomes(session: Session, start: date, end: date) -> dict[str, int]:
    o = _columns(Outcome)
    stmt = select(o.workflow, func.sum(o.count)).where(o.day >= start, o.day < end).group_by(o.workflow)
    return {wf: int(n or 0) for wf, n in session.execute(stmt)}


def workflows(session: Session) -> dict[str, WorkflowConfig]:
    out = {}
    for wf in session.execute(select(Workflow)).scalars():
        out[wf.key] = WorkflowConfig(
            key=wf.key,
            run_cost_cap=wf.run_cost_cap,
            call_token_budget=wf.call_token_budget,
            currency=wf.currency,
            outcome_unit=wf.outcome_unit,
            owner=wf.owner,
            team=wf.team,
        )
    return out


def sources(session: Session) -> list[SourceState]:
    return [
        SourceState(
            source=s.source,
            last_success_at=s.last_success_at,
            freshest_data_at=s.freshest_data_at,
            last_error=s.last_error,
            last_error_at=s.last_error_at,
        )
        for s in session.execute(select(SyncState)).scalars()
    ]


def prefix_repeats(
    session: Session, start: datetime, end: datetime, min_calls: int
) -> list[tuple[str, str, int, int]]:
    """(workflow, prompt prefix hash, calls, input tokens) for prefixes seen at least `min_calls` times."""
    c = _columns(CallRecord)
    stmt = (
        select(c.workflow, c.prompt_prefix_hash, func.count(), func.sum(c.input_tokens - c.cache_read_tokens))
        .where(c.ts >= start, c.ts < end, c.prompt_prefix_hash.is_not(None))
        .group_by(c.workflow, c.prompt_prefix_hash)
        .having(func.count() >= min_calls)
    )
    return [(wf, h, int(n), int(t or 0)) for wf, h, n, t in session.execute(stmt)]


def step_model_usage(
    session: Session, start: datetime, end: datetime
) -> dict[tuple[str, str, str], list[int]]:
    """(workflow, step, model) -> [calls, input tokens, output tokens] from raw calls (within retention)."""
    c = _columns(CallRecord)
    stmt = (
        select(c.workflow, c.step, c.model, func.count(), func.sum(c.input_tokens), func.sum(c.output_tokens))
        .where(c.ts >= start, c.ts < end)
        .group_by(c.workflow, c.step, c.model)
    )
    out: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for wf, step, model, n, inp, outp in session.execute(stmt):
        out[(wf, step, model)] = [int(n), int(inp or 0), int(outp or 0)]
    return dict(out)
