"""Model prices from genai-prices (its bundled snapshot: no network), as Decimal per million tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from genai_prices import Usage, calc_price

from aispend.core.pricing import find_model

MTOK = 1_000_000
# Prices are read for a small request and scaled: a million-token request would hit the long-context
# tier some models charge above 200k tokens per request.
SAMPLE = 1_000
# Input price per million tokens from which a model counts as "frontier" (gpt-4o is 2.50, gpt-4o-mini 0.15).
FRONTIER_INPUT_PER_MTOK = Decimal("1.00")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    provider: str
    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal
    currency: str = "USD"  # genai-prices lists USD prices

    @property
    def tier(self) -> str:
        return "frontier" if self.input_per_mtok >= FRONTIER_INPUT_PER_MTOK else "small"

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0) -> Decimal:
        fresh = max(input_tokens - cache_read_tokens, 0)
        return (
            Decimal(fresh) * self.input_per_mtok
            + Decimal(output_tokens) * self.output_per_mtok
            + Decimal(cache_read_tokens) * self.cache_read_per_mtok
        ) / MTOK


def split_ref(ref: str) -> tuple[str | None, str]:
    """`provider:model` or a bare model name."""
    provider, sep, model = ref.partition(":")
    return (provider.strip() or None, model.strip()) if sep else (None, ref.strip())


def lookup_price(ref: str, at: datetime | None = None) -> ModelPrice:
    """The price of `provider:model` (or a model name genai-prices can place); LookupError if unknown."""
    # A Bedrock id has a colon of its own (…-v1:0): the whole reference is tried as a model too.
    provider, name = split_ref(ref)
    found = find_model(provider or "", name) or find_model("", ref.strip())
    if found is None:
        raise LookupError(f"no price known for {ref!r} (genai-prices)")
    provider, model = found[0].id, found[1].id
    try:
        inp = calc_price(Usage(input_tokens=SAMPLE), model_ref=model, provider_id=provider, genai_request_timestamp=at)
        out = calc_price(Usage(output_tokens=SAMPLE), model_ref=model, provider_id=provider, genai_request_timestamp=at)
        cached = calc_price(
            Usage(input_tokens=SAMPLE, cache_read_tokens=SAMPLE),
            model_ref=model,
            provider_id=provider,
            genai_request_timestamp=at,
        )
    except LookupError as exc:
        raise LookupError(f"no price known for {ref!r} (genai-prices): {exc}") from None
    return ModelPrice(
        provider=inp.provider.id,
        model=inp.model.id,
        input_per_mtok=Decimal(str(inp.total_price)) * (MTOK // SAMPLE),
        output_per_mtok=Decimal(str(out.total_price)) * (MTOK // SAMPLE),
        cache_read_per_mtok=Decimal(str(cached.total_price)) * (MTOK // SAMPLE),
    )


def try_price(ref: str, at: datetime | None = None) -> ModelPrice | None:
    try:
        return lookup_price(ref, at)
    except LookupError:
        return None
