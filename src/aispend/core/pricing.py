"""Token prices from genai-prices, resolved once per (provider, model, UTC day).

Calling genai_prices.calc_price for every row caps ingestion near 11,000 rows/s; prices only change
at dated boundaries, so we resolve a model's per-million-token prices once per day and do the
arithmetic ourselves (the same cliff-tier rule the library uses). Models whose prices depend on the
time of day fall back to the library per call. Unknown models return None — never 0.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import genai_prices
from genai_prices import data_snapshot
from genai_prices.types import ConditionalPrice, ModelInfo, ModelPrice, Provider, TieredPrices, Usage

if TYPE_CHECKING:
    from aispend.core.settings import Settings

_MILLION = Decimal(1_000_000)
_PRICE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


@dataclass(frozen=True, slots=True)
class TokenCounts:
    input_tokens: int  # all input tokens, cache reads and writes included (OpenTelemetry convention)
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class _Linear:
    """Per-million prices for one day; tiers apply to every token once input crosses their start."""

    __slots__ = ("cache_read", "cache_write", "input", "output", "tiered", "units")

    def __init__(self, prices: dict[str, Decimal | TieredPrices | None]) -> None:
        base_input = prices.get("input_mtok")
        self.input = base_input
        self.output = prices.get("output_mtok")
        # No cache price: cached input costs as input (as genai-prices does).
        self.cache_read = prices.get("cache_read_mtok") or base_input
        self.cache_write = prices.get("cache_write_mtok") or base_input
        self.tiered = any(
            isinstance(p, TieredPrices) for p in (self.input, self.output, self.cache_read, self.cache_write)
        )
        self.units = None if self.tiered else _whole_units(self.input, self.output, self.cache_read, self.cache_write)

    def cost(self, tokens: TokenCounts) -> Decimal:
        return self.cost_of(
            tokens.input_tokens, tokens.output_tokens, tokens.cache_read_tokens, tokens.cache_write_tokens
        )

    def cost_of(self, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> Decimal:
        uncached = max(input_tokens - cache_read - cache_write, 0)
        if self.units is not None:  # exact in integers: one Decimal per call instead of eight
            i, o, r, w = self.units
            return Decimal(i * uncached + o * output_tokens + r * cache_read + w * cache_write).scaleb(-_UNIT_DIGITS)
        total = Decimal(0)
        for price, count in (
            (self.input, uncached),
            (self.output, output_tokens),
            (self.cache_read, cache_read),
            (self.cache_write, cache_write),
        ):
            if price is None or count == 0:
                continue
            unit = _unit_price(price, input_tokens) if self.tiered else price
            total += unit * count  # type: ignore[operator]
        return total / _MILLION


# Prices per token in 10^-12 dollars: a price per million tokens with at most 6 decimals is a whole
# number of these, so costs can be summed in integers and are still exact.
_UNIT_DIGITS = 12


def _whole_units(*per_million: Decimal | TieredPrices | None) -> tuple[int, ...] | None:
    """The prices as whole 10^-12 units per token (a missing price is 0), or None if one is finer."""
    units = []
    for price in per_million:
        scaled = Decimal(0) if price is None else Decimal(price).scaleb(_UNIT_DIGITS - 6)  # type: ignore[arg-type]
        if scaled != scaled.to_integral_value():
            return None
        units.append(int(scaled))
    return tuple(units)


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


@dataclass(frozen=True, slots=True)
class CustomPrice:
    """A company's own price for a model genai-prices does not know (an in-house or fine-tuned model)."""

    provider: str
    model: str
    since: date
    per_million: dict[str, Decimal]  # input_mtok, output_mtok, cache_read_mtok, cache_write_mtok


class PriceError(ValueError):
    """The custom prices file is not valid; the message says where."""


def load_custom_prices(path: Path) -> list[CustomPrice]:
    """Read a TOML prices file::

    [[price]]
    provider = "internal"
    model = "acme-ft-classifier-v3"
    since = 2026-01-01          # optional; prices apply from this UTC day
    input_mtok = "0.20"         # USD per million tokens, as strings or numbers
    output_mtok = "0.40"
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except FileNotFoundError:
        raise PriceError(f"prices file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PriceError(f"{path}: not valid TOML: {exc}") from None
    prices = []
    for index, entry in enumerate(data.get("price", []), start=1):
        where = f"{path}: price {index}"
        if not entry.get("model"):
            raise PriceError(f"{where}: needs a model")
        per_million = {}
        for key in _PRICE_KEYS:
            if key in entry:
                try:
                    per_million[key] = Decimal(str(entry[key]))
                except ArithmeticError:
                    raise PriceError(f"{where}: {key} is not a number: {entry[key]!r}") from None
        if "input_mtok" not in per_million:
            raise PriceError(f"{where}: needs input_mtok (USD per million input tokens)")
        since = entry.get("since", date(1970, 1, 1))
        if not isinstance(since, date):
            raise PriceError(f"{where}: since must be a date such as 2026-01-01")
        prices.append(CustomPrice(str(entry.get("provider", "")).lower(), str(entry["model"]), since, per_million))
    return prices


class PriceBook:
    """Prices calls; caches one resolution per (provider, model, UTC day).

    Custom prices (a company's own models) win over genai-prices for the models they name.
    """

    def __init__(self, custom: list[CustomPrice] | None = None) -> None:
        self._custom = sorted(custom or [], key=lambda p: p.since)
        self.custom_prices = list(self._custom)
        self._cache: dict[tuple[str, str, date], _Resolved] = {}
        self._providers: dict[str, str | None] = {}
        self._snapshot = data_snapshot.get_snapshot()

    def cost(self, provider: str, model: str, ts: datetime, tokens: TokenCounts) -> Decimal | None:
        return self.cost_of(
            provider,
            model,
            ts,
            tokens.input_tokens,
            tokens.output_tokens,
            tokens.cache_read_tokens,
            tokens.cache_write_tokens,
        )

    def cost_of(
        self,
        provider: str,
        model: str,
        ts: datetime,
        input_tokens: int,
        output_tokens: int,
        cache_read: int,
        cache_write: int,
    ) -> Decimal | None:
        """The hot path of ingestion: a dict probe and a few Decimal multiplications."""
        key = (provider, model, ts.date())
        try:
            resolved = self._cache[key]
        except KeyError:
            resolved = self._cache[key] = self._resolve(provider, model, ts)
        if resolved is None:
            return None
        if type(resolved) is _Linear:
            return resolved.cost_of(input_tokens, output_tokens, cache_read, cache_write)
        assert isinstance(resolved, _PerCall)
        usage = Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )
        return resolved.model.calc_price(usage, resolved.provider, genai_request_timestamp=ts).total_price

    def provider_for(self, model: str) -> str | None:
        """The provider genai-prices (or the custom prices) associate with a model, for rows that do not say."""
        try:
            return self._providers[model]
        except KeyError:
            custom = next((p.provider for p in self._custom if p.model == model and p.provider), None)
            found = self._find("", model)
            self._providers[model] = custom or (found[0].id if found else None)
            return self._providers[model]

    def _resolve(self, provider: str, model: str, ts: datetime) -> _Resolved:
        custom = [p for p in self._custom if p.model == model and p.provider in ("", provider) and p.since <= ts.date()]
        if custom:
            return _Linear(dict(custom[-1].per_million))
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


def price_book(settings: Settings) -> PriceBook:
    """The price book for this deployment: genai-prices plus the company's prices file, if any."""
    custom = load_custom_prices(settings.prices_file) if settings.prices_file else []
    return PriceBook(custom)
