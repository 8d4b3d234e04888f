"""What the Slack edge needs from the rest of aispend, as protocols the lead wires at merge time.

`LedgerQueries` is implemented here (bot/adapters.py) over the ledger tables; `Governance` by
bot/governance_source.py over the governance module (thresholds, colours, forecast, changes). Without
one, commands that need it answer that it is not configured.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlmodel import Session

from aispend.bot.views import (
    BreakdownDetail,
    BudgetLine,
    ChangeLine,
    DailyPoint,
    ScopeColour,
    ShadowFinding,
    SourceFreshness,
    TopReport,
    WorkflowDetail,
)


class LedgerQueries(Protocol):
    def top(self, period_kind: str, now: datetime) -> TopReport: ...
    def top_for(self, kind: str, at: date, today: date) -> TopReport: ...
    def workflow(self, key: str, now: datetime) -> WorkflowDetail | None: ...
    def workflow_names(self) -> list[str]: ...
    def breakdown(self, kind: str, name: str, now: datetime) -> BreakdownDetail | None: ...
    def names(self, kind: str) -> list[str]: ...
    def daily(self, start: date, end: date) -> list[DailyPoint]: ...
    def sources(self, now: datetime) -> list[SourceFreshness]: ...
    def reconciliation_drift(self, start: date, end: date) -> list[str]: ...
    def owner_of(self, workflow: str) -> str | None: ...
    def set_owner(self, session: Session, workflow: str, owner: str, now: datetime) -> tuple[str, str]: ...
    def set_outcome(
        self, session: Session, workflow: str, *, unit: str | None, display_name: str | None, now: datetime
    ) -> tuple[dict[str, str] | None, dict[str, str]]:
        """Set a workflow's outcome unit and/or display name in the caller's transaction; returns
        (before, after). Raises ValueError with a message for the user when a value does not fit."""
        ...


class Governance(Protocol):
    def colours(self, now: datetime) -> list[ScopeColour]: ...
    def set_threshold(
        self,
        session: Session,
        scope_kind: str,
        scope: str,
        yellow: Decimal | None,
        red: Decimal | None,
        *,
        actor: str,
        now: datetime,
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Change one scope's thresholds in the caller's transaction (audited as `actor`); returns
        (before, after). Raises ValueError with a message for the user when the levels are not valid."""
        ...

    def budget(self, now: datetime) -> BudgetLine | None: ...
    def changes(self, now: datetime) -> list[ChangeLine]: ...


class ShadowFindings(Protocol):
    """Implemented by bot/shadow_source.py over the shadow module."""

    def findings(self, month: date | None, *, finance: bool, now: datetime) -> list[ShadowFinding]: ...
    def new_this_month(self, day: date, now: datetime) -> list[ShadowFinding]: ...
