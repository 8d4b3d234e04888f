"""Plain data the renderers take. bot/data.py fills these from the core's queries.

Nothing here knows Slack or the database: renderers turn these into (text, blocks), tests build them by hand.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from aispend.core.money import Money
from aispend.core.rules.periods import Period  # the one period type (a week or month; complete=False: so far)

# Colours of a scope against its thresholds.
GREEN = "green"
YELLOW = "yellow"
RED = "red"
UNKNOWN = "unknown"  # no threshold configured

# Alert levels (RECOVERED = back under the yellow line).
RECOVERED = "recovered"


@dataclass(frozen=True)
class WorkflowRow:
    """One workflow in a ranking (the shape of `aispend report top --json` rows)."""

    rank: int
    key: str
    label: str
    cost: Money
    previous_cost: Money | None = None
    change_pct: Decimal | None = None
    share_pct: Decimal | None = None
    calls: int = 0
    runs: int = 0
    unpriced_calls: int = 0
    owner: str = ""  # Slack user id (U...) or free text
    cost_per_run: Money | None = None
    cost_per_outcome: Money | None = None
    outcome_unit: str = ""
    colour: str = UNKNOWN


@dataclass(frozen=True)
class TopReport:
    period: Period
    totals: list[Money]
    rows: list[WorkflowRow]
    unpriced_calls: int = 0
    compared: str = ""  # which days "vs previous" compares ("" on a period's first day: nothing yet)
    basis: str = "billed"  # AISPEND_COST_BASIS: billed | amortized
    notes: list[str] = field(default_factory=list)  # conversions, amounts left out for want of a rate


@dataclass(frozen=True)
class DailyPoint:
    day: date
    series: str  # a workflow key, or "other"
    cost: Decimal


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    last_success_at: datetime | None
    freshest_data_at: datetime | None
    last_error: str | None = None
    stale: bool = False


@dataclass(frozen=True)
class ChangeLine:
    """One line of "what changed and why" (a change decomposition)."""

    scope: str
    delta: Money
    reason: str


@dataclass(frozen=True)
class ShadowFinding:
    vendor: str
    detail: str
    spend: Money | None = None


@dataclass(frozen=True)
class BudgetLine:
    total: Money
    budget: Money | None = None
    forecast: Money | None = None


@dataclass(frozen=True)
class DigestData:
    """Everything the weekly digest shows; `key` (ISO week) makes its outbox keys."""

    key: str  # e.g. "2026-W47"
    top: TopReport
    budget: BudgetLine | None = None
    changes: list[ChangeLine] = field(default_factory=list)
    shadow: list[ShadowFinding] = field(default_factory=list)
    sources: list[SourceFreshness] = field(default_factory=list)
    reconciliation_drift: list[str] = field(default_factory=list)
    daily: list[DailyPoint] = field(default_factory=list)  # four weeks, for the chart


@dataclass(frozen=True)
class AlertData:
    """One alert as governance raises it; `key` names the alert (governance's `rule|kind:key|period`), so
    every level of it lives in one Slack message."""

    key: str
    scope_kind: str  # workflow | team | model | company
    scope: str
    level: str  # yellow | red | recovered
    spent: Money
    threshold: Money | None
    period: Period
    owner: str = ""  # Slack user id of the scope's owner
    forecast: Money | None = None
    escalate: bool = False  # also to the leadership channel
    explanation: list[ChangeLine] = field(default_factory=list)
    rule: str = "threshold"  # the governance rule that raised it (threshold, share, change_wow, ...)
    summary: str = ""  # the rule's one-line finding; shown when there is no money threshold to compare with
    basis: str = "actual"  # actual | forecast: what crossed the level (a forecast breach is not spend yet)
    forecast_low: Money | None = None  # the forecast's range, as the CLI shows it
    forecast_high: Money | None = None


@dataclass(frozen=True)
class AlertState:
    """What people did with an alert in Slack."""

    state: str = "open"  # open | acknowledged | snoozed | recovered
    acknowledged_by: str | None = None
    snoozed_until: datetime | None = None
    owner: str = ""


@dataclass(frozen=True)
class ScopeColour:
    scope_kind: str
    scope: str
    colour: str
    spent: Money
    yellow: Money | None = None
    red: Money | None = None


@dataclass(frozen=True)
class WorkflowDetail:
    key: str
    label: str
    period: Period
    cost: Money
    previous_cost: Money | None
    change_pct: Decimal | None
    runs: int
    calls: int
    cost_per_run: Money | None
    cost_per_outcome: Money | None
    outcome_unit: str
    outcomes: int
    owner: str
    team: str
    models: list[tuple[str, Money]]  # (model, cost), most expensive first
    thresholds: ScopeColour | None = None
    unpriced_calls: int = 0
    basis: str = "billed"
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BreakdownDetail:
    """`/aispend team NAME` and `/aispend model NAME`: cost and its split by workflow."""

    kind: str  # team | model
    name: str
    period: Period
    cost: Money
    previous_cost: Money | None
    change_pct: Decimal | None
    calls: int
    by_workflow: list[tuple[str, Money]]
    basis: str = "billed"
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HomeData:
    month: Period
    colours: list[ScopeColour]
    top: TopReport
    sources: list[SourceFreshness]


def coloured(top: TopReport, colours: list[ScopeColour]) -> TopReport:
    """Each workflow's colour from governance: its threshold or share-of-spend level; green when no rule
    flags it."""
    by_workflow = {c.scope: c.colour for c in colours if c.scope_kind == "workflow"}
    rows = [dataclasses.replace(r, colour=by_workflow.get(r.key, GREEN)) for r in top.rows]
    return dataclasses.replace(top, rows=rows)
