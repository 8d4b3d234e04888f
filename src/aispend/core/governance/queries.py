"""Ledger reads for governance: spend through the one definition (`ledger.spend`), the rest as is.

Every function takes a Session and returns plain rule inputs (see aispend.core.rules.*); sums happen in SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session

from aispend.core.ledger.models import AgentRun, CallRecord, CallRollupDaily, Workflow
from aispend.core.ledger.queries import outcomes_by_workflow
from aispend.core.ledger.spend import COUNTS, SpendPolicy, spend
from aispend.core.rules.agentic import CallRow, RunRow, WorkflowConfig
from aispend.core.rules.model_review import ModelUsage
from aispend.core.rules.spend import SpendRow
from aispend.core.timeutil import start_of_day

ZERO = Decimal(0)


def _columns(model: Any) -> Any:
    """The table's columns (typed loosely: SQLModel types attributes as their Python values)."""
    return model.__table__.c


DIMENSIONS = ("provider", "model", "workflow", "team", "feature")


def spend_rows(
    session: Session,
    *,
    policy: SpendPolicy,
    windows: Sequence[tuple[date, date]],
    dims: Sequence[str],
    by_day: bool = True,
    counts: bool = False,
) -> list[SpendRow]:
    """The one spend figure (`ledger.spend.spend`) by (day, *dims) over the [start, end) windows, in
    the company currency (with counts=True, the logs' call and token counts beside it); unnamed dimensions are
    left "". With by_day=False each window is one row per key, dated its start (what the change
    rule needs)."""
    unknown = set(dims) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimensions {sorted(unknown)}")
    conn = session.connection()
    out = []
    for start, end in windows:
        merged = spend(conn, start=start, end=end, dims=dims, policy=policy, daily=by_day, counts=counts)
        amounts: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
        for line in merged.lines:
            amounts[(line.day, *line.values)] += line.amount
        measures: dict[tuple[Any, ...], tuple[int, ...]] = {
            (day, *values): numbers for (day, values), numbers in merged.counts.items()
        }
        none = (0,) * len(COUNTS)
        for key in sorted(set(amounts) | set(measures), key=_sortable):
            named: dict[str, Any] = dict(zip(dims, key[1:], strict=True))
            named.update(zip(COUNTS, measures.get(key, none), strict=True))
            out.append(SpendRow(day=key[0], cost=amounts.get(key, ZERO), currency=policy.currency, **named))
    return out


def unconverted(
    session: Session, *, policy: SpendPolicy, start: date, end: date
) -> list[tuple[str, date, Decimal, str]]:
    """(currency, day, amount, reason) left out of spend in [start, end) for want of a rate."""
    merged = spend(session.connection(), start=start, end=end, policy=policy)
    return [(u.currency, u.day, u.amount, u.reason) for u in merged.unconverted]


def _sortable(key: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(str(v) for v in key)


def logged_rows(
    session: Session,
    *,
    windows: Sequence[tuple[date, date]],
    dims: Sequence[str],
    by_day: bool = True,
) -> list[SpendRow]:
    """What the per-call logs say, in their own currencies, by (day, *dims, currency): the input of
    the data-quality rules (unpriced calls, logs against bills) and of the model review, never a
    spend figure (that is `spend_rows`)."""
    cols = _columns(CallRollupDaily)  # day-grained: the daily rollups (same figures, fewer rows)
    day, currency, cost = cols.day, cols.currency, cols.cost
    unknown = set(dims) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimensions {sorted(unknown)}")
    in_window = [and_(day >= s, day < e) for s, e in windows]
    if by_day:
        day_key: Any = day
    else:
        day_key = case(*((cond, i) for i, cond in enumerate(in_window)), else_=-1)
    keys = [day_key, *(getattr(cols, d) for d in dims), currency]
    measures = [func.sum(getattr(cols, m)) for m in COUNTS]
    stmt = select(*keys, func.sum(cost), *measures).where(or_(*in_window)).group_by(*keys)
    out = []
    for row in session.execute(stmt):
        values = list(row)
        day_value = values[0] if by_day else windows[int(values[0])][0]
        named: dict[str, Any] = dict(zip(dims, values[1 : 1 + len(dims)], strict=True))
        cur, total = values[1 + len(dims)], values[2 + len(dims)]
        named.update(zip(COUNTS, (int(v or 0) for v in values[3 + len(dims) :]), strict=False))
        amount = total if total is not None else ZERO
        out.append(SpendRow(day=day_value, cost=amount, currency=cur, **named))
    return out


def load_spend(
    session: Session, *, start: date, end: date, policy: SpendPolicy, with_feature: bool = False
) -> list[SpendRow]:
    """Daily spend with every dimension, [start, end): for reports over short ranges."""
    dims = ["provider", "model", "workflow", "team"] + (["feature"] if with_feature else [])
    return spend_rows(session, policy=policy, windows=[(start, end)], dims=dims)


def runs(session: Session, *, start: date, end: date) -> list[RunRow]:
    a = _columns(AgentRun)
    stmt = select(a.run_id, a.workflow, a.day, a.calls, a.cost, a.currency, a.outcome).where(
        a.day >= start, a.day < end
    )
    return [
        RunRow(run_id=r[0], workflow=r[1], day=r[2], calls=int(r[3]), cost=r[4], currency=r[5], outcome=r[6])
        for r in session.execute(stmt)
    ]


def run_counts(session: Session, *, start: date, end: date) -> dict[str, int]:
    """Runs per workflow started in [start, end)."""
    a = _columns(AgentRun)
    stmt = select(a.workflow, func.count()).where(a.day >= start, a.day < end).group_by(a.workflow)
    return {wf: int(n) for wf, n in session.execute(stmt)}


def calls(session: Session, *, start: date, end: date, workflows: set[str]) -> list[CallRow]:
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


def outcomes(session: Session, *, start: date, end: date) -> dict[str, int]:
    """The ledger's one count of outcomes (recorded daily counts, else the runs' logged outcomes)."""
    return outcomes_by_workflow(session.connection(), start=start, end=end)


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


def prefix_repeats(
    session: Session, *, start: datetime, end: datetime, min_calls: int
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


def step_usage(session: Session, *, start: datetime, end: datetime) -> list[ModelUsage]:
    """Usage per (workflow, step, provider, model) from raw calls in [start, end) (within retention)."""
    c = _columns(CallRecord)
    keys = [c.workflow, c.step, c.provider, c.model, c.currency]
    stmt = (
        select(
            *keys,
            func.count(),
            func.sum(c.input_tokens),
            func.sum(c.output_tokens),
            func.sum(c.cache_read_tokens),
            func.sum(c.cost),
        )
        .where(c.ts >= start, c.ts < end)
        .group_by(*keys)
    )
    return [
        ModelUsage(
            wf,
            step,
            provider,
            model,
            int(n),
            int(i or 0),
            int(o or 0),
            int(cr or 0),
            cost if cost is not None else ZERO,
            cur,
        )
        for wf, step, provider, model, cur, n, i, o, cr, cost in session.execute(stmt)
    ]
