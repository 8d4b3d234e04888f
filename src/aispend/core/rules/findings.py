"""What every governance rule returns: findings with a level, scope, period and the numbers behind them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from aispend.core.errors import AispendError
from aispend.core.money import money_json
from aispend.core.rules.periods import Period


class Level(StrEnum):
    OK = "ok"
    YELLOW = "yellow"
    RED = "red"
    NO_DATA = "no-data"
    INFO = "info"  # a report-only finding: never part of the alert lifecycle


_SEVERITY = {Level.NO_DATA: 0, Level.INFO: 0, Level.OK: 0, Level.YELLOW: 1, Level.RED: 2}


def severity(level: Level) -> int:
    return _SEVERITY[level]


def worst(levels: Iterable[Level]) -> Level:
    result = Level.OK
    for level in levels:
        if severity(level) > severity(result):
            result = level
    return result


SCOPE_KINDS = ("company", "team", "workflow", "provider", "model")


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    kind: str  # company | team | workflow | provider | model | feature | source
    key: str = ""  # "" for the company; "" in other kinds means unattributed

    @property
    def label(self) -> str:
        if self.kind == "company":
            return "company"
        return f"{self.kind} {self.key or '(unattributed)'}"

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.key}"


COMPANY = Scope("company")

# Every kind of finding (Finding.rule) there is, in two lists. ALERT_KINDS are what the evaluation can
# raise: they enter the alert lifecycle and reach Slack through delivery, and the delivery test sends
# one of each (tests/scenarios/test_governance_delivery.py), so a kind added here without a delivery case fails
# it. REPORT_KINDS only ever appear in reports. A Finding of a kind in neither list is refused.
ALERT_KINDS = frozenset(
    {
        "threshold",
        "share",
        "new_entrant",
        "change_wow",
        "change_mom",
        "run_cap",
        "token_budget",
        "escalation_gate",
        "dq_unpriced",
        "dq_zero_cost",
        "dq_unattributed_workflow",
        "dq_unattributed_team",
        "dq_stale_source",
        "dq_reconciliation",
        "dq_unconverted",
        "unit_economics",
        "currency",  # a rule refused mixed currencies (core/governance/evaluate.py)
    }
)
REPORT_KINDS = frozenset(
    {
        "cost_per_outcome",
        "finops_hire",
        "model_review",
        "model_review_tiers",
        "model_review_what_if",
        "model_review_caching",
        "model_review_batch",
        "model_review_self_host",
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    scope: Scope
    period: str  # period key, e.g. "2026-11", "2026-W48" or "2026-12/draft": part of the alert's identity
    level: Level
    summary: str
    numbers: dict[str, Any] = field(default_factory=dict)
    basis: str = "actual"  # actual | forecast: what crossed the level
    # The dates the finding covers. Required of every alert kind: delivery reads the period from here,
    # never from the key (a key may carry a rule's qualifier, e.g. the gated step).
    span: Period | None = None

    def __post_init__(self) -> None:
        if self.rule not in ALERT_KINDS and self.rule not in REPORT_KINDS:
            raise ValueError(f"unknown finding kind {self.rule!r}: list it in core/rules/findings.py")
        if self.rule in ALERT_KINDS and self.span is None:
            raise ValueError(f"a {self.rule} finding must carry its span (the period it covers)")

    @property
    def alert_key(self) -> tuple[str, str, str, str]:
        return (self.rule, self.scope.kind, self.scope.key, self.period)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "scope": {"kind": self.scope.kind, "key": self.scope.key},
            "period": self.period,
            "level": self.level.value,
            "basis": self.basis,
            "summary": self.summary,
            "numbers": self.numbers,
            "span": self.span.as_json() if self.span else None,
        }


class MixedCurrencyError(AispendError, ValueError):
    """Amounts in more than one currency met in one sum: refused rather than added."""

    code = "mixed_currency"


def currency_refusal(rule: str, error: MixedCurrencyError, period: Period) -> Finding:
    """What the evaluation records when `rule` refused mixed currencies: a red `currency` finding."""
    return Finding("currency", Scope("rule", rule), period.key, Level.RED, str(error), span=period)


def one_currency(currencies: Iterable[str], *, where: str, expected: str | None = None) -> str | None:
    """The one currency of a set of amounts; a clear error for a mix; None when there is no amount."""
    found = sorted(set(currencies) | ({expected} if expected else set()))
    if len(found) > 1:
        raise MixedCurrencyError(
            f"{where}: amounts in {', '.join(found)} cannot be added without a conversion rate; "
            "convert them to one currency (AISPEND_CURRENCY) before evaluating"
        )
    return found[0] if found else None


def money(amount: Decimal, currency: str) -> dict[str, str]:
    return money_json(amount, currency)
