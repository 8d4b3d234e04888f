"""An in-memory Governance for the bot's tests (the real one lives in the governance module)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from aispend.bot.views import GREEN, BudgetLine, ChangeLine, ScopeColour
from aispend.core.money import Money, decimal_str


@dataclass
class InMemoryGovernance:
    thresholds: dict[tuple[str, str], dict[str, Decimal]] = field(default_factory=dict)
    set_calls: int = 0

    def colours(self, now: datetime) -> list[ScopeColour]:
        return [
            ScopeColour(
                kind,
                scope,
                GREEN,
                Money(Decimal(0), "USD"),
                Money(v["yellow"], "USD") if "yellow" in v else None,
                Money(v["red"], "USD") if "red" in v else None,
            )
            for (kind, scope), v in sorted(self.thresholds.items())
        ]

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
        self.set_calls += 1
        key = (scope_kind, scope)
        before = {k: decimal_str(v) for k, v in self.thresholds[key].items()} if key in self.thresholds else None
        current = dict(self.thresholds.get(key, {}))
        if yellow is not None:
            current["yellow"] = yellow
        if red is not None:
            current["red"] = red
        self.thresholds[key] = current
        return before, {k: decimal_str(v) for k, v in current.items()}  # as the real one: no trailing zeros

    def budget(self, now: datetime) -> BudgetLine | None:
        return None

    def changes(self, now: datetime) -> list[ChangeLine]:
        return []
