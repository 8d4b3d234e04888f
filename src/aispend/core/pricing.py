"""Token prices from genai-prices, resolved once per (provider, model, UTC day).

Calling genai_prices.calc_price for every row caps ingestion near 11,000 rows/s; prices only change
at dated boundaries, so we resolve a model's per-million-token prices once per day and do the
arithmetic ourselves (the same cliff-tier rule the library uses). Models whose prices depend on the
time of day fall back to the library per call. Unknown models return None — never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import genai_prices
from genai_prices import data_snapshot
from genai_prices.types import ConditionalPrice, ModelInfo, ModelPrice, Provider, TieredPrices, Usage

_MILLION = Decimal(1_000_000)
_PRICE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


@dataclass(frozen=True, slots=True)
class TokenCounts:
    input_tokens: int  # all input tokens, cache reads and writes included (OpenTelemetry convention)
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True, slots=True)
class _Linear:
    """Per-million prices for one day; tiers apply to every token once input crosses their start."""

    prices: dict[str, Decimal | TieredPrices | None]

    def cost(self, tokens: TokenCounts) -> Decimal:
        uncached = tokens.input_tokens - tokens.cache_read_tokens - tokens.cache_write_tokens
        counts = {
            "input_mtok": max(uncached, 0),
            "output_mtok": tokens.output_tokens,
            "cache_read_mtok": tokens.cache_read_tokens,
            "cache_write_mtok": tokens.cache_write_tokens,
        }
        total = Decimal(0)
        for key, count in counts.items():
            price = self.prices.get(key)
            if key == "cache_read_mtok" and price is None:
                price = self.prices.get("input_mtok")  # no cache price: cached input costs as input
            if key == "cache_write_mtok" and price is None:
                price = self.prices.get("input_mtok")
            if price is None or count == 0:
                continue
            total += _unit_price(price, tokens.input_tokens) * count
        return total / _MILLION


def _unit_price(price: Decimal | TieredPrices, total_input_tokens: int) -> Decimal:
    if isinstance(price, TieredPrices):
        for tier in reversed(price.tiers):
            if total_input_tokens > tier.start:
                return tier.price
        return price.base
    return price


@dataclass(frozen=True, slots=True)
class _PerCall:
    provider: Provider
    model: ModelInfo


_Resolved = _Linear | _PerCall | None


class PriceBook:
    """Prices calls; caches one resolution per (provider, model, UTC day)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, date], _Resolved] = {}
        self._providers: dict[str, str | None] = {}
        self._snapshot = data_snapshot.get_snapshot()

    def cost(self, provider: str, model: str, ts: datetime, tokens: TokenCounts) -> Decimal | None:
        key = (provider, model, ts.date())
        try:
            resolved = self._cache[key]
        except KeyError:
            resolved = self._cache[key] = self._resolve(provider, model, ts)
        if resolved is None:
            return None
        if isinstance(resolved, _Linear):
            return resolved.cost(tokens)
        usage = Usage(
            input_tokens=tokens.input_tokens,
            output_tokens=tokens.output_tokens,
            cache_read_tokens=tokens.cache_read_tokens,
            cache_write_tokens=tokens.cache_write_tokens,
        )
        return resolved.model.calc_price(usage, resolved.provider, genai_request_timestamp=ts).total_price

    def provider_for(self, model: str) -> str | None:
        """The provider genai-prices associates with a model name, for rows that do not say."""
        try:
            return self._providers[model]
        except KeyError:
            found = self._find("", model)
            self._providers[model] = found[0].id if found else None
            return self._providers[model]

    def _resolve(self, provider: str, model: str, ts: datetime) -> _Resolved:
        found = self._find(provider, model)
        if found is None:
            return None
        prov, info = found
        if isinstance(info.prices, list) and any(
            isinstance(c, ConditionalPrice) and type(c.constraint).__name__ == "TimeOfDateConstraint"
            for c in info.prices
        ):
            return _PerCall(prov, info)
        prices: ModelPrice = info.get_prices(ts)
        return _Linear({key: getattr(prices, key, None) for key in _PRICE_KEYS})

    def _find(self, provider: str, model: str) -> tuple[Provider, ModelInfo] | None:
        for provider_id in (provider or None, None):
            try:
                return self._snapshot.find_provider_model(model, None, provider_id, None)
            except LookupError:
                continue
        return None


def library_price(provider: str, model: str, ts: datetime, tokens: TokenCounts) -> Decimal:
    """The library's own per-call computation (used by tests to check PriceBook, and by estimates)."""
    usage = Usage(
        input_tokens=tokens.input_tokens,
        output_tokens=tokens.output_tokens,
        cache_read_tokens=tokens.cache_read_tokens,
        cache_write_tokens=tokens.cache_write_tokens,
    )
    return genai_prices.calc_price(usage, model, provider_id=provider, genai_request_timestamp=ts).total_price
