"""The queries reports read. One place answers "how much did X cost in period P" (UTC days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, case, func, select

from aispend.core.ledger.models import AgentRun, CallRollupDaily, Outcome, SyncState, Workflow, table_of
from aispend.core.ledger.spend import SPEND_DIMENSIONS, Spend, SpendPolicy, spend
from aispend.core.redact import redact_optional

DIMENSIONS = SPEND_DIMENSIONS

# Reports are day-grained: they read the daily rollups (same figures as the hourly ones, summed).
ROLLUPS = table_of(CallRollupDaily)
RUNS = table_of(AgentRun)
OUTCOMES = table_of(Outcome)
WORKFLOWS = table_of(Workflow)
SYNC_STATE = table_of(SyncState)


@dataclass(frozen=True, slots=True)
class SpendRow:
    key: str
    currency: str
    cost: Decimal
    calls: int
    unpriced_calls: int
    zero_cost_calls: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class SpendBy:
    """Rows of `spend_by`, with the spend they come from (its currency, basis and notes)."""

    rows: list[SpendRow]
    spend: Spend


def check_dimension(by: str) -> str:
    if by not in DIMENSIONS:
        raise ValueError(f"unknown dimension {by!r}; use one of: {', '.join(DIMENSIONS)}")
    return by


def spend_by(conn: Connection, by: str, *, start: date, end: date, policy: SpendPolicy) -> SpendBy:
    """AI spend grouped by one dimension, days [start, end), in the company currency.

    The cost is the one definition of spend (`ledger.spend.spend`: bills as the system of record,
    per-call logs as the shares, converted at dated rates); call, token and unpriced counts come
    from the logs.
    """
    merged = spend(conn, start=start, end=end, dims=[check_dimension(by)], policy=policy, daily=False, counts=True)
    costs = {key[0]: amount for key, amount in merged.by(by).items()}
    counted = {name: merged.count_by(name) for name in _COUNTED}
    rows = [
        SpendRow(key, policy.currency, costs.get(key, Decimal(0)), *(counted[n].get((key,), 0) for n in _COUNTED))
        for key in sorted(set(costs) | {values[0] for values in counted["calls"]})
    ]
    return SpendBy(rows, merged)


# SpendRow's counts, in its field order.
_COUNTED = ("calls", "unpriced_calls", "zero_cost_calls", "input_tokens", "output_tokens")


def unpriced_models(conn: Connection, *, start: date, end: date) -> list[tuple[str, str, int]]:
    """(provider, model, calls) with no known price in the period, most calls first."""
    total = func.sum(ROLLUPS.c.unpriced_calls)
    stmt = (
        select(ROLLUPS.c.provider, ROLLUPS.c.model, total)
        .where(ROLLUPS.c.day >= start, ROLLUPS.c.day < end, ROLLUPS.c.unpriced_calls > 0)
        .group_by(ROLLUPS.c.provider, ROLLUPS.c.model)
        .order_by(total.desc(), ROLLUPS.c.model)
    )
    return [(p, m, int(n)) for p, m, n in conn.execute(stmt)]


@dataclass(frozen=True, slots=True)
class RunTotals:
    runs: int
    cost: Decimal
    runs_with_outcome: int


def runs_by_workflow(conn: Connection, *, start: date, end: date) -> dict[str, RunTotals]:
    """Runs started in [start, end) per workflow, with their cost."""
    with_outcome = func.sum(case((RUNS.c.outcome != "", 1), else_=0))
    stmt = (
        select(RUNS.c.workflow, func.count(), func.sum(RUNS.c.cost), with_outcome)
        .where(RUNS.c.day >= start, RUNS.c.day < end)
        .group_by(RUNS.c.workflow)
    )
    return {wf: RunTotals(int(n), cost or Decimal(0), int(o or 0)) for wf, n, cost, o in conn.execute(stmt)}


# A run's outcome (its calls' `outcome` field) that means the run did NOT deliver its business result;
# any other non-empty outcome ("success", "resolved", "answered"...) counts as one outcome.
FAILED_OUTCOMES = frozenset(
    {
        "failed",
        "failure",
        "fail",
        "error",
        "errored",
        "abandoned",
        "cancelled",
        "canceled",
        "timeout",
        "rejected",
        "escalated",
        "unresolved",
        "none",
        "no",
    }
)


def outcomes_by_workflow(conn: Connection, *, start: date, end: date, workflow: str | None = None) -> dict[str, int]:
    """Business outcomes per workflow in [start, end), for cost per outcome.

    A day's count comes from the outcome table where one was recorded for that workflow and day (an
    explicit business count, e.g. tickets closed); otherwise from the call logs: the runs that day
    whose outcome is set and is not a failure (`FAILED_OUTCOMES`)."""
    recorded = select(OUTCOMES.c.workflow, OUTCOMES.c.day, OUTCOMES.c.count).where(
        OUTCOMES.c.day >= start, OUTCOMES.c.day < end
    )
    logged = (
        select(RUNS.c.workflow, RUNS.c.day, func.count())
        .where(
            RUNS.c.day >= start,
            RUNS.c.day < end,
            RUNS.c.outcome != "",
            func.lower(RUNS.c.outcome).not_in(sorted(FAILED_OUTCOMES)),
        )
        .group_by(RUNS.c.workflow, RUNS.c.day)
    )
    if workflow is not None:
        recorded = recorded.where(OUTCOMES.c.workflow == workflow)
        logged = logged.where(RUNS.c.workflow == workflow)
    counts: dict[str, int] = {}
    days_recorded = set()
    for wf, day, n in conn.execute(recorded):
        counts[wf] = counts.get(wf, 0) + int(n)
        days_recorded.add((wf, day))
    for wf, day, n in conn.execute(logged):
        if (wf, day) not in days_recorded:
            counts[wf] = counts.get(wf, 0) + int(n)
    return counts


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    key: str
    display_name: str
    owner: str
    team: str
    outcome_unit: str


def workflow_info(conn: Connection) -> dict[str, WorkflowInfo]:
    stmt = select(
        WORKFLOWS.c.key, WORKFLOWS.c.display_name, WORKFLOWS.c.owner, WORKFLOWS.c.team, WORKFLOWS.c.outcome_unit
    )
    return {row.key: WorkflowInfo(*row) for row in conn.execute(stmt)}


def sync_states(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every source's sync_state row by source name, in name order: what `rules.freshness` reads.
    The last error comes redacted (also what was stored before redaction)."""
    query = select(SYNC_STATE).order_by(SYNC_STATE.c.source)
    rows = {row["source"]: dict(row) for row in conn.execute(query).mappings()}
    for row in rows.values():
        row["last_error"] = redact_optional(row.get("last_error"))
    return rows
