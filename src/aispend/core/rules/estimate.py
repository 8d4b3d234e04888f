"""Back-of-the-envelope monthly cost of a planned AI feature, before it ships.

monthly cost = DAU x actions per user per day x tokens per action x price per token x days x
agentic multiplier (an agent makes several calls per user action: 3-10x is common).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

MTOK = Decimal(1_000_000)
# Enough significant digits that no product of the inputs is rounded (the default context keeps 28).
_EXACT = 100


@dataclass(frozen=True, slots=True)
class EstimateInput:
    dau: int
    actions_per_user: Decimal
    tokens_per_action: int
    output_share: Decimal = Decimal("0.25")  # share of the tokens that are output tokens
    agentic_multiplier: Decimal = Decimal(1)
    days: int = 30

    def __post_init__(self) -> None:
        if self.dau < 0 or self.actions_per_user < 0 or self.tokens_per_action < 0:
            raise ValueError("DAU, actions and tokens must not be negative")
        if not Decimal(0) <= self.output_share <= Decimal(1):
            raise ValueError(f"output share must be between 0 and 1, got {self.output_share}")
        if self.agentic_multiplier < 1:
            raise ValueError(f"agentic multiplier must be at least 1, got {self.agentic_multiplier}")


@dataclass(frozen=True, slots=True)
class Estimate:
    monthly_tokens: Decimal
    input_tokens: Decimal
    output_tokens: Decimal
    monthly_cost: Decimal
    call_cost: Decimal  # one call (tokens_per_action tokens); one user action is agentic_multiplier calls


def estimate_monthly(spec: EstimateInput, input_per_mtok: Decimal, output_per_mtok: Decimal) -> Estimate:
    with localcontext() as exact:
        exact.prec = _EXACT
        calls = Decimal(spec.dau) * spec.actions_per_user * spec.days * spec.agentic_multiplier
        tokens = calls * spec.tokens_per_action
        output = tokens * spec.output_share
        inp = tokens - output
        cost = (inp * input_per_mtok + output * output_per_mtok) / MTOK
        return Estimate(tokens, inp, output, cost, call_cost(spec, input_per_mtok, output_per_mtok))


def call_cost(spec: EstimateInput, input_per_mtok: Decimal, output_per_mtok: Decimal) -> Decimal:
    """One call's cost: tokens_per_action tokens at the output share (an action is `agentic_multiplier` calls)."""
    with localcontext() as exact:
        exact.prec = _EXACT
        output = spec.tokens_per_action * spec.output_share
        return ((spec.tokens_per_action - output) * input_per_mtok + output * output_per_mtok) / MTOK
