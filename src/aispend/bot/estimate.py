"""`/aispend estimate`: the monthly cost of a planned feature, priced with genai-prices at today's prices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from genai_prices import Usage, calc_price

from aispend.core.money import Money
from aispend.core.pricing import find_model

DAYS_PER_MONTH = 30
# Tokens per action are split 3:1 between input and output unless told otherwise: typical of chat and
# retrieval features (long prompts, short answers). The reply states the split so nobody is misled.
INPUT_SHARE = Decimal("0.75")


@dataclass(frozen=True)
class Estimate:
    monthly: Money
    per_action: Money
    model: str
    provider: str
    input_tokens: int
    output_tokens: int


class UnknownModel(LookupError):
    pass


def estimate_monthly(dau: int, actions: int, tokens: int, model: str, when: datetime) -> Estimate:
    """dau users x actions per user per day x 30 days, each action `tokens` tokens on `model`."""
    input_tokens = int((Decimal(tokens) * INPUT_SHARE).to_integral_value())
    output_tokens = tokens - input_tokens
    found = find_model("", model)
    if found is None:
        raise UnknownModel(model)
    try:
        price = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            model_ref=found[1].id,
            provider_id=found[0].id,
            genai_request_timestamp=when,
        )
    except LookupError:
        raise UnknownModel(model) from None
    per_action = Decimal(str(price.total_price))  # genai-prices answers Decimal; str() keeps it exact either way
    monthly = per_action * dau * actions * DAYS_PER_MONTH
    return Estimate(
        monthly=Money(monthly, "USD"),
        per_action=Money(per_action, "USD"),
        model=price.model.id,
        provider=price.provider.id,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
