"""The bot's `Governance` port over the governance module (issue 4): colours, thresholds, budget, changes.

Thresholds live only in the governance tables (`gov_threshold`, audited in `gov_threshold_audit`); this
adapter reads and writes them there, so `/aispend thresholds set` and `aispend thresholds set` change the
same rows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from aispend.bot.views import GREEN, RED, UNKNOWN, YELLOW, BudgetLine, ChangeLine, ScopeColour
from aispend.core.governance import reports, store
from aispend.core.governance.config import GovernanceConfig
from aispend.core.ledger.db import session_scope
from aispend.core.money import Money, decimal_str
from aispend.core.rules.findings import COMPANY, Finding, Level, Scope, severity
from aispend.core.rules.share import SHARE_RULE
from aispend.core.rules.thresholds import RULE as THRESHOLD_RULE
from aispend.core.rules.thresholds import Threshold

_COLOUR = {Level.RED: RED, Level.YELLOW: YELLOW, Level.OK: GREEN}
MAX_CHANGES = 8


def _money(value: Any) -> Money | None:
    """A finding's {"amount", "currency"} as Money (None when absent)."""
    if not isinstance(value, dict) or "amount" not in value:
        return None
    return Money(Decimal(str(value["amount"])), str(value["currency"]))


def _colour(level: Level) -> str:
    return _COLOUR.get(level, UNKNOWN)


class GovernanceSource:
    def __init__(self, engine: Engine, config: GovernanceConfig) -> None:
        self.engine = engine
        self.config = config

    # --- colours: every scope with a threshold, and workflows coloured by their share of spend -----------

    def colours(self, now: datetime) -> list[ScopeColour]:
        with session_scope(self.engine) as session:
            findings = reports.colour_findings(session, now, self.config)
        out: dict[tuple[str, str], ScopeColour] = {}
        levels: dict[tuple[str, str], Level] = {}
        for f in findings:
            if f.rule != THRESHOLD_RULE:
                continue
            numbers = f.numbers
            limits = numbers.get("limits", {})
            spent = _money(numbers.get("forecast", {}).get("actual_to_date")) or Money(Decimal(0), self.config.currency)
            key = (f.scope.kind, f.scope.key)
            out[key] = ScopeColour(
                f.scope.kind,
                f.scope.key,
                _colour(f.level),
                spent,
                _money(limits.get("yellow")),
                _money(limits.get("red")),
            )
            levels[key] = f.level
        for f in findings:
            # Share of spend turns a workflow red even under budget: its colour is the worse of the two.
            if f.rule != SHARE_RULE or f.level not in (Level.YELLOW, Level.RED):
                continue
            key = (f.scope.kind, f.scope.key)
            if key in out and severity(levels[key]) >= severity(f.level):
                continue
            spent = _money(f.numbers.get("workflow_spend")) or Money(Decimal(0), self.config.currency)
            current = out.get(key)
            out[key] = ScopeColour(
                f.scope.kind,
                f.scope.key,
                _colour(f.level),
                current.spent if current else spent,
                current.yellow if current else None,
                current.red if current else None,
            )
            levels[key] = f.level
        order = {"company": 0, "team": 1, "workflow": 2, "provider": 3, "model": 4}
        return sorted(out.values(), key=lambda c: (order.get(c.scope_kind, 9), c.scope))

    # --- thresholds ---------------------------------------------------------------------------------------

    def set_threshold(
        self,
        session: Session,
        scope_kind: str,
        scope: str,
        yellow: Decimal | None,
        red: Decimal | None,
        *,
        actor: str = "",
        now: datetime,
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Create or change the scope's threshold for the default period; a level not given is kept.
        Raises ValueError (shown to the user) when the levels do not make a valid threshold."""
        target = COMPANY if scope_kind == "company" else Scope(scope_kind, scope)
        period = self.config.period_kind
        current = next(
            (
                t
                for t in store.list_thresholds(session)
                if (t.scope_kind, t.scope_key, t.period_kind) == (target.kind, target.key, period)
            ),
            None,
        )
        old_yellow, old_red = (_plain(current.yellow), _plain(current.red)) if current else (None, None)
        before = _flat(old_yellow, old_red, current.currency, period) if current else None
        currency = current.currency if current else self.config.currency
        new_yellow = yellow if yellow is not None else old_yellow
        new_red = red if red is not None else old_red
        rule = Threshold(target, period, new_yellow, new_red, currency)  # validates: ValueError
        store.set_threshold(session, rule, actor=actor or "slack", now=now)
        return before, _flat(rule.yellow, rule.red, rule.currency, period)

    # --- budget and forecast ----------------------------------------------------------------------------

    def budget(self, now: datetime) -> BudgetLine | None:
        """The company's spend this period, its forecast, and its budget (the red level of the company
        threshold for the period, when there is one). None when nothing was spent in the period."""
        with session_scope(self.engine) as session:
            forecast = reports.company_forecast(session, now, self.config)
            limit = next(
                (
                    t
                    for t in store.list_thresholds(session)
                    if t.scope_kind == "company" and t.period_kind == self.config.period_kind
                ),
                None,
            )
        if forecast is None:
            return None
        amount, currency = forecast
        budget = None
        if limit is not None and (limit.red if limit.red is not None else limit.yellow) is not None:
            level = limit.red if limit.red is not None else limit.yellow
            assert level is not None
            budget = Money(level, limit.currency)
        return BudgetLine(
            total=Money(amount.actual_to_date, currency),
            budget=budget,
            forecast=Money(amount.expected, currency),
        )

    # --- what changed and why -------------------------------------------------------------------------------

    def changes(self, now: datetime) -> list[ChangeLine]:
        with session_scope(self.engine) as session:
            findings = reports.changes(session, now, self.config, "week")
        return change_lines(findings)


def change_lines(findings: list[Finding]) -> list[ChangeLine]:
    """The company first, then flagged scopes, then the biggest movers; one line each."""
    lines: list[tuple[tuple[int, Decimal, str], ChangeLine]] = []
    for f in findings:
        change = _money(f.numbers.get("change"))
        if change is None or change.amount == 0:
            continue
        label = f.scope.label
        reason = f.summary.removeprefix(f"{label}: ")
        rank = 0 if f.scope == COMPANY else 1 if f.level is Level.YELLOW else 2
        lines.append(((rank, -abs(change.amount), label), ChangeLine(label, change, reason)))
    lines.sort(key=lambda item: item[0])
    return [line for _, line in lines[:MAX_CHANGES]]


def _plain(value: Decimal | None) -> Decimal | None:
    """A stored amount without the ledger's trailing zeros (10000.000000000000 -> 10000)."""
    return None if value is None else Decimal(decimal_str(value))


def _flat(yellow: Decimal | None, red: Decimal | None, currency: str, period: str) -> dict[str, Any]:
    return {
        "yellow": decimal_str(yellow) if yellow is not None else None,
        "red": decimal_str(red) if red is not None else None,
        "currency": currency,
        "period": period,
    }
