"""Token prices from genai-prices, resolved once per (provider, model, UTC day).

Calling genai_prices.calc_price for every row caps ingestion near 11,000 rows/s; prices only change
at dated boundaries, so we resolve a model's per-million-token prices once per day and do the
arithmetic ourselves (the same cliff-tier rule the library uses). Models whose prices depend on the
time of day fall back to the library per call. Unknown models return None — never 0.

The same module gives a model's per-million prices at a time (`PriceBook.model_price`, `lookup_price`):
what the model review, the escalation gates and `estimate` read, with the small/frontier tier.

Three things a call carries besides its tokens change its price, and each is priced or refused,
never guessed: the part of its cache writes kept for one hour (Anthropic charges 2x input for those,
1.25x for five-minute writes), its service tier (batch, flex, priority: a price list of its own,
known per model from a date; an unknown tier leaves the call unpriced with the reason), and a routing
prefix or Bedrock id in the model name (`openai/gpt-4o-mini`, `us.anthropic.claude-...`), which
`find_model` — the one place model names are resolved — reads as the model it names.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import genai_prices
from genai_prices import data_snapshot
from genai_prices.data_snapshot import DataSnapshot
from genai_prices.types import ConditionalPrice, ModelInfo, Provider, TieredPrices, Usage
from genai_prices.types import ModelPrice as LibraryPrices

from aispend.core.errors import AispendError

if TYPE_CHECKING:
    from aispend.core.settings import Settings

_MILLION = Decimal(1_000_000)
_PRICE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok")

STANDARD_TIER = ""
# Service tiers as logs spell them (OpenAI's request and response, Anthropic's usage.service_tier)
# -> the tier whose prices apply. Anything else is a tier with no public price list.
_TIERS = {
    "": STANDARD_TIER,
    "default": STANDARD_TIER,
    "auto": STANDARD_TIER,
    "standard": STANDARD_TIER,
    "batch": "batch",
    "flex": "flex",
    "priority": "priority",
}
# The genai-prices request context under which each tier's price variant is listed.
_TIER_CONTEXT: dict[str, Mapping[str, str]] = {
    "batch": {"processing": "batch"},
    "flex": {"service_tier": "flex"},
    "priority": {"service_tier": "priority"},
}


def service_tier(value: str) -> str:
    """The tier a call is priced at: "" (standard), batch, flex, priority, or the unknown name as given."""
    name = value.strip().lower()
    return _TIERS.get(name, name)


@dataclass(frozen=True, slots=True)
class TokenCounts:
    input_tokens: int  # all input tokens, cache reads and writes included (OpenTelemetry convention)
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # all cache writes, the one-hour ones included (as Anthropic reports)
    cache_write_1h_tokens: int = 0


class _Linear:
    """Per-million prices for one day; tiers apply to every token once input crosses their start."""

    __slots__ = ("cache_read", "cache_write", "cache_write_1h", "input", "output", "tiered", "units")

    def __init__(self, prices: Mapping[str, Decimal | TieredPrices | None]) -> None:
        base_input = prices.get("input_mtok")
        self.input = base_input
        self.output = prices.get("output_mtok")
        # No cache price: cached input costs as input (as genai-prices does).
        self.cache_read = prices.get("cache_read_mtok") or base_input
        self.cache_write = prices.get("cache_write_mtok") or base_input
        # No one-hour price: such writes are unpriced (never the five-minute rate; see PriceBook.cost_of).
        self.cache_write_1h = prices.get("cache_write_1h_mtok")
        every = (self.input, self.output, self.cache_read, self.cache_write, self.cache_write_1h)
        self.tiered = any(isinstance(p, TieredPrices) for p in every)
        self.units = None if self.tiered else _whole_units(*every)

    def cost_of(
        self, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int, cache_write_1h: int = 0
    ) -> Decimal:
        uncached = max(input_tokens - cache_read - cache_write, 0)
        five_minute = cache_write - cache_write_1h
        if self.units is not None:  # exact in integers: one Decimal per call instead of eight
            i, o, r, w, h = self.units
            return Decimal(
                i * uncached + o * output_tokens + r * cache_read + w * five_minute + h * cache_write_1h
            ).scaleb(-_UNIT_DIGITS)
        total = Decimal(0)
        for price, count in (
            (self.input, uncached),
            (self.output, output_tokens),
            (self.cache_read, cache_read),
            (self.cache_write, five_minute),
            (self.cache_write_1h, cache_write_1h),
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
    context: Mapping[str, str] | None  # the tier's price context, None for standard
    has_1h_price: bool


@dataclass(frozen=True, slots=True)
class _Unpriced:
    reason: str


_Resolved = _Linear | _PerCall | _Unpriced


# Routing prefixes that SDKs, gateways and LiteLLM put before a model name -> the provider they name.
_ROUTES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure",
    "azure_ai": "azure",
    "models": "google",  # the Gemini API's resource name: models/gemini-2.5-flash
    "gemini": "google",
    "google": "google",
    "vertex_ai": "google",
    "bedrock": "aws",
    "converse": "aws",  # bedrock/converse/<model id>
    "invoke": "aws",
}
# A Bedrock model id names the model's maker, optionally behind a cross-region inference prefix:
# anthropic.claude-3-5-sonnet-20240620-v1:0, us.anthropic.claude-sonnet-4-5-20250929-v1:0.
_BEDROCK_ID = re.compile(
    r"(?:(?:us|us-gov|eu|apac|ap|jp|au|ca|global)\.)?"
    r"(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|google|nvidia|writer|moonshotai|zai)\.\w"
)


def route(model: str) -> tuple[str, str]:
    """(the provider a routing prefix or Bedrock id names, or "", the model name it routes to)."""
    name = model.strip()
    hint = ""
    if name.lower().startswith("arn:aws:bedrock:"):  # an inference-profile or foundation-model ARN
        name, hint = name.rpartition("/")[2], "aws"
    while "/" in name:
        head, _, rest = name.partition("/")
        provider = _ROUTES.get(head.lower())
        if provider is None or not rest:
            break
        hint, name = hint or provider, rest
    if _BEDROCK_ID.match(name.lower()):
        hint = "aws"
    return hint, name


def find_model(provider: str, model: str, snapshot: DataSnapshot | None = None) -> tuple[Provider, ModelInfo] | None:
    """The genai-prices provider and model a call names, or None: the one home of model-name resolution.

    The name as written is tried first (so whatever resolved before still resolves the same), then
    the model a routing prefix or Bedrock id names, at the provider it implies."""
    data = snapshot or data_snapshot.get_snapshot()
    hint, routed = route(model)
    candidates = [(provider or None, model)]
    if routed != model or hint:
        candidates += [(hint or None, routed), (provider or None, routed)]
    candidates += [(None, model), (None, routed)]
    for provider_id, name in dict.fromkeys(candidates):
        try:
            return data.find_provider_model(name, None, provider_id, None)
        except LookupError:
            continue
    return None


def _tier_prices(info: ModelInfo, tier: str, ts: datetime) -> dict[str, Decimal | TieredPrices] | str:
    """The prices a tier overrides for this model at ts, or why they are not known.

    genai-prices itself falls back to the standard price when it has no variant for the tier; that
    would price a flex call at the standard rate without a word, so the variants are read here."""
    context = _TIER_CONTEXT.get(tier)
    if context is None:
        return f"no public price list for service tier {tier!r}"
    overrides: dict[str, Decimal | TieredPrices] = {}
    listed_from: list[date] = []
    for variant in info.price_variants or ():
        if not variant.when or any(context.get(key) != value for key, value in variant.when.items()):
            continue
        if variant.constraint is not None and not variant.constraint.active(ts):
            start = getattr(variant.constraint, "start_date", None)
            if isinstance(start, date):
                listed_from.append(start)
            continue
        for key, price in variant.prices.__dict__.items():
            if price is not None:
                overrides.setdefault(key, price)
        listed_from.append(date.min)
    if date.min in listed_from:
        return overrides
    if listed_from:
        return f"the {tier}-tier price of {info.id} is known only from {min(listed_from).isoformat()}"
    return f"no {tier}-tier price known for {info.id}"


@dataclass(frozen=True, slots=True)
class CustomPrice:
    """A company's own price for a model genai-prices does not know (an in-house or fine-tuned model),
    or for a tier it has no price for. It wins over genai-prices for its model and tier only."""

    provider: str
    model: str
    since: date
    per_million: dict[str, Decimal]  # input_mtok, output_mtok, cache_read_mtok, cache_write_mtok, cache_write_1h_mtok
    tier: str = STANDARD_TIER  # the service tier this price is for


class UnknownModelError(AispendError, LookupError):
    """No price is known for the model named (neither the custom prices nor genai-prices)."""

    code = "unknown_model"


class PriceError(AispendError, ValueError):
    """The custom prices file is not valid; the message says where."""

    code = "invalid_prices"


def load_custom_prices(path: Path) -> list[CustomPrice]:
    """Read a TOML prices file::

    [[price]]
    provider = "internal"
    model = "acme-ft-classifier-v3"
    since = 2026-01-01          # optional; prices apply from this UTC day
    service_tier = "batch"      # optional; the tier this price is for (default: standard)
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
        tier = service_tier(str(entry.get("service_tier", "")))
        prices.append(
            CustomPrice(str(entry.get("provider", "")).lower(), str(entry["model"]), since, per_million, tier)
        )
    return prices


# ---- per-million prices of a model ------------------------------------------------------------------

# Per-million prices are read for a small request and scaled: a million-token request would hit the
# long-context tier some models charge above 200k tokens per request.
_SAMPLE = 1_000
# Input price per million tokens from which a model counts as "frontier" (gpt-4o is 2.50, gpt-4o-mini 0.15).
FRONTIER_INPUT_PER_MTOK = Decimal("1.00")
GENAI_PRICES = "genai-prices"
CUSTOM_PRICES = "custom prices"


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """A model's standard-tier list prices per million tokens at one time (USD, as both sources list)."""

    provider: str
    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal
    currency: str = "USD"
    source: str = GENAI_PRICES  # or CUSTOM_PRICES: the company's prices file

    @property
    def tier(self) -> str:
        return "frontier" if self.input_per_mtok >= FRONTIER_INPUT_PER_MTOK else "small"

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0) -> Decimal:
        fresh = max(input_tokens - cache_read_tokens, 0)
        return (
            Decimal(fresh) * self.input_per_mtok
            + Decimal(output_tokens) * self.output_per_mtok
            + Decimal(cache_read_tokens) * self.cache_read_per_mtok
        ) / _MILLION


def split_ref(ref: str) -> tuple[str | None, str]:
    """`provider:model` or a bare model name."""
    provider, sep, model = ref.partition(":")
    return (provider.strip().lower() or None, model.strip()) if sep else (None, ref.strip())


class PriceBook:
    """Prices calls; caches one resolution per (provider, model, service tier, UTC day).

    Custom prices (a company's own models) win over genai-prices for the models and tiers they name.
    """

    def __init__(self, custom: list[CustomPrice] | None = None) -> None:
        self._custom = sorted(custom or [], key=lambda p: p.since)
        self.custom_prices = list(self._custom)
        self._cache: dict[tuple[str, str, str, date], _Resolved] = {}
        self._providers: dict[str, str | None] = {}
        self._snapshot = data_snapshot.get_snapshot()

    def cost(self, provider: str, model: str, ts: datetime, tokens: TokenCounts, tier: str = "") -> Decimal | None:
        return self.cost_of(
            provider,
            model,
            ts,
            tokens.input_tokens,
            tokens.output_tokens,
            tokens.cache_read_tokens,
            tokens.cache_write_tokens,
            tokens.cache_write_1h_tokens,
            tier,
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
        cache_write_1h: int = 0,
        tier: str = "",
    ) -> Decimal | None:
        """The hot path of ingestion: a dict probe and a few Decimal multiplications.

        None (unpriced) when the model, its tier's price or its one-hour cache-write price is not
        known; `unpriced_reason` says which."""
        try:
            resolved = self._cache[(provider, model, tier, ts.date())]
        except KeyError:
            resolved = self._resolved(provider, model, tier, ts)
        if type(resolved) is _Linear:
            if cache_write_1h and resolved.cache_write_1h is None:
                return None
            return resolved.cost_of(input_tokens, output_tokens, cache_read, cache_write, cache_write_1h)
        if type(resolved) is _Unpriced or (cache_write_1h and not resolved.has_1h_price):  # type: ignore[union-attr]
            return None
        assert isinstance(resolved, _PerCall)
        usage = Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            **({"cache_write_1h_tokens": cache_write_1h} if cache_write_1h else {}),
        )
        return resolved.model.calc_price(
            usage, resolved.provider, genai_request_timestamp=ts, price_context=resolved.context
        ).total_price

    def unpriced_reason(self, provider: str, model: str, ts: datetime, tier: str = "", cache_write_1h: int = 0) -> str:
        """Why cost_of gave None for such a call (one line, for the import and reprice summaries)."""
        resolved = self._resolved(provider, model, tier, ts)
        if isinstance(resolved, _Unpriced):
            return resolved.reason
        if cache_write_1h:
            return f"no one-hour cache-write price known for {model}"
        return f"no price known for {model}"

    def model_price(self, ref: str, at: datetime | None = None) -> ModelPrice:
        """The standard-tier prices of `provider:model` (or a model name genai-prices can place) at `at`
        (now if None). A custom standard-tier price for the model wins from its `since` day, as it does
        for calls; LookupError if neither source knows the model."""
        when = at or datetime.now(UTC)
        # A Bedrock id has a colon of its own (…-v1:0): the whole reference is tried as a model too.
        provider, name = split_ref(ref)
        for prov, model in dict.fromkeys([(provider or "", name), ("", ref.strip())]):
            custom = [
                p
                for p in self._custom
                if p.model == model and p.tier == STANDARD_TIER and p.since <= when.date()
                if not prov or p.provider in ("", prov)
            ]
            if custom:
                return _custom_model_price(custom[-1], prov)
        found = find_model(provider or "", name, self._snapshot) or find_model("", ref.strip(), self._snapshot)
        if found is None:
            raise UnknownModelError(f"no price known for {ref!r} (genai-prices)")
        prov_info, info = found

        def sampled(usage: Usage) -> Decimal:
            total = info.calc_price(usage, prov_info, genai_request_timestamp=at).total_price
            return Decimal(str(total)) * (_MILLION / _SAMPLE)

        try:
            inp = sampled(Usage(input_tokens=_SAMPLE))
            out = sampled(Usage(output_tokens=_SAMPLE))
            cached = sampled(Usage(input_tokens=_SAMPLE, cache_read_tokens=_SAMPLE))
        except LookupError as exc:
            raise UnknownModelError(f"no price known for {ref!r} (genai-prices): {exc}") from None
        return ModelPrice(prov_info.id, info.id, inp, out, cached)

    def try_model_price(self, ref: str, at: datetime | None = None) -> ModelPrice | None:
        try:
            return self.model_price(ref, at)
        except LookupError:
            return None

    def provider_for(self, model: str) -> str | None:
        """The provider genai-prices (or the custom prices) associate with a model, for rows that do not say;
        else the one its routing prefix or Bedrock id names."""
        try:
            return self._providers[model]
        except KeyError:
            custom = next((p.provider for p in self._custom if p.model == model and p.provider), None)
            found = find_model("", model, self._snapshot)
            self._providers[model] = custom or (found[0].id if found else route(model)[0] or None)
            return self._providers[model]

    def _resolved(self, provider: str, model: str, tier: str, ts: datetime) -> _Resolved:
        key = (provider, model, tier, ts.date())
        try:
            return self._cache[key]
        except KeyError:
            resolved = self._cache[key] = self._resolve(provider, model, service_tier(tier), ts)
            return resolved

    def _resolve(self, provider: str, model: str, tier: str, ts: datetime) -> _Resolved:
        custom = [p for p in self._custom if p.model == model and p.provider in ("", provider) and p.since <= ts.date()]
        for_tier = [p for p in custom if p.tier == tier]
        if for_tier:  # a company price for this tier; other tiers fall through to genai-prices
            return _Linear(dict(for_tier[-1].per_million))
        found = find_model(provider, model, self._snapshot)
        if found is None:
            if custom:
                return _Unpriced(f"the custom price of {model} is not for the {tier or 'standard'} tier")
            return _Unpriced(f"no price known for {model}")
        prov, info = found
        context = _TIER_CONTEXT.get(tier) if tier else None
        overrides: dict[str, Decimal | TieredPrices] = {}
        if tier:
            tier_prices = _tier_prices(info, tier, ts)
            if isinstance(tier_prices, str):
                return _Unpriced(tier_prices)
            overrides = tier_prices
        if isinstance(info.prices, list) and any(
            isinstance(c, ConditionalPrice) and type(c.constraint).__name__ == "TimeOfDateConstraint"
            for c in info.prices
        ):
            standard = info.get_prices(ts)
            has_1h = overrides.get("cache_write_1h_mtok", getattr(standard, "cache_write_1h_mtok", None)) is not None
            return _PerCall(prov, info, context, has_1h)
        prices: LibraryPrices = info.get_prices(ts)
        return _Linear({key: overrides.get(key, getattr(prices, key, None)) for key in _PRICE_KEYS})


def library_price(provider: str, model: str, ts: datetime, tokens: TokenCounts, tier: str = "") -> Decimal:
    """The library's own per-call computation (used by tests to check PriceBook, and by estimates)."""
    usage = Usage(
        input_tokens=tokens.input_tokens,
        output_tokens=tokens.output_tokens,
        cache_read_tokens=tokens.cache_read_tokens,
        cache_write_tokens=tokens.cache_write_tokens,
        **({"cache_write_1h_tokens": tokens.cache_write_1h_tokens} if tokens.cache_write_1h_tokens else {}),
    )
    context = _TIER_CONTEXT.get(service_tier(tier))
    return genai_prices.calc_price(
        usage, model, provider_id=provider, genai_request_timestamp=ts, price_context=context
    ).total_price


def price_book(settings: Settings) -> PriceBook:
    """The price book for this deployment: genai-prices plus the company's prices file, if any."""
    custom = load_custom_prices(settings.prices_file) if settings.prices_file else []
    return PriceBook(custom)


def _custom_model_price(price: CustomPrice, provider: str) -> ModelPrice:
    """Per-million prices from the prices file, read as the price book reads them for calls: no output
    price costs nothing, no cache-read price costs as input."""
    per = price.per_million
    return ModelPrice(
        price.provider or provider,
        price.model,
        per["input_mtok"],
        per.get("output_mtok", Decimal(0)),
        per.get("cache_read_mtok", per["input_mtok"]),
        source=CUSTOM_PRICES,
    )


def lookup_price(ref: str, at: datetime | None = None) -> ModelPrice:
    """genai-prices' per-million prices of a model (no custom prices); LookupError if unknown."""
    return PriceBook().model_price(ref, at)
