"""The per-call log schema: field names (OpenTelemetry GenAI names and plain aliases) and validation.

`normalize_call(raw)` turns one parsed row (a dict from JSONL or CSV) into a StoredCall or raises
RowError with a reason that names the field. Pure: no I/O, no pricing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aispend.core.errors import AispendError
from aispend.core.ledger.calls import StoredCall
from aispend.core.ledger.types import money_limit
from aispend.core.money import MoneyError, normalize_currency, parse_decimal

# Canonical field -> accepted names, in order of preference. Matching is case-sensitive for the
# dotted OpenTelemetry names and also accepts their plain forms.
ALIASES: dict[str, tuple[str, ...]] = {
    "call_id": ("call_id", "id", "gen_ai.response.id", "request_id"),
    "timestamp": ("timestamp", "ts", "time", "start_time", "created_at"),
    "provider": ("provider", "gen_ai.provider.name", "gen_ai.system"),
    "model": ("model", "gen_ai.response.model", "gen_ai.request.model"),
    "input_tokens": ("input_tokens", "gen_ai.usage.input_tokens", "prompt_tokens"),
    "uncached_input_tokens": ("uncached_input_tokens",),
    "output_tokens": ("output_tokens", "gen_ai.usage.output_tokens", "completion_tokens"),
    "cache_read_tokens": (
        "cache_read_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "cache_read_input_tokens",
        "cached_tokens",
    ),
    "cache_write_tokens": (
        "cache_write_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "cache_creation_input_tokens",
    ),
    # Anthropic's split of the cache writes by lifetime (usage.cache_creation): one-hour writes cost more.
    "cache_write_1h_tokens": ("cache_write_1h_tokens", "cache_creation.ephemeral_1h_input_tokens"),
    "cache_write_5m_tokens": ("cache_write_5m_tokens", "cache_creation.ephemeral_5m_input_tokens"),
    "service_tier": (
        "service_tier",
        "gen_ai.openai.response.service_tier",  # the tier that served (and bills) the call
        "openai.response.service_tier",
        "gen_ai.openai.request.service_tier",
        "openai.request.service_tier",
    ),
    "cost": ("cost", "cost_usd", "gen_ai.usage.cost"),
    "currency": ("currency",),
    "workflow": ("workflow", "aispend.workflow", "app"),
    "feature": ("feature", "aispend.feature"),
    "team": ("team", "aispend.team"),
    "customer": ("customer", "aispend.customer", "tenant"),
    "user": ("user", "user_id", "enduser.id"),
    "run_id": ("run_id", "aispend.run_id", "gen_ai.conversation.id", "trace_id"),
    "step": ("step", "aispend.step", "gen_ai.agent.name", "span_name"),
    "outcome": ("outcome", "aispend.outcome"),
    "latency_ms": ("latency_ms", "duration_ms"),
    "prompt_prefix_hash": ("prompt_prefix_hash", "aispend.prompt_prefix_hash"),
}

_TEXT_LIMITS = {
    "workflow": 128,
    "feature": 128,
    "team": 128,
    "customer": 128,
    "user": 128,
    "run_id": 128,
    "step": 128,
    "outcome": 64,
    "provider": 64,
    "model": 128,
    "prompt_prefix_hash": 128,
    "service_tier": 32,
}


class RowError(AispendError, ValueError):
    """A row that cannot be imported; the message is the reason shown to the user."""

    code = "invalid_row"


# Token counts and latencies above this are refused: no call comes near a trillion tokens, and it keeps
# the rollups' 64-bit sums (millions of calls an hour) from overflowing, which would fail a whole batch.
MAX_COUNT = 10**12
# A call's time may be this far ahead of the import's clock (clocks of producers drift, a local time
# may be labelled UTC) or this far behind it (backfills); beyond, it is a unit or clock mistake.
MAX_AHEAD = timedelta(days=1)
MAX_BEHIND = timedelta(days=3653)
DEFAULT_MAX_CALL_COST = Decimal(1000)
_SQLITE_MONEY_LIMIT = money_limit("sqlite")  # the lower of the two databases' limits
_FIRST_INSTANT, _LAST_INSTANT = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CallLimits:
    """What an import accepts besides well-formed values: a cost the ledger can store and that is
    plausible for one call, and a time near the import's clock (None: no time window)."""

    max_cost: Decimal = DEFAULT_MAX_CALL_COST
    storable_cost: Decimal = _SQLITE_MONEY_LIMIT
    now: datetime | None = None
    # The accepted times (derived from now): what the per-row test compares with.
    earliest: datetime = _FIRST_INSTANT
    latest: datetime = _LAST_INSTANT

    @classmethod
    def at(cls, now: datetime, max_cost: Decimal, dialect_name: str) -> CallLimits:
        return cls(max_cost, money_limit(dialect_name), now, now - MAX_BEHIND, now + MAX_AHEAD)

    def admits(self, call: StoredCall) -> bool:
        """The per-row test (three comparisons); implausible() says why when it fails."""
        cost = call.cost
        return (cost is None or cost <= self.max_cost) and self.earliest <= call.ts <= self.latest


def implausible(call: StoredCall, limits: CallLimits) -> str | None:
    """Why a priced call is refused, or None. Pure."""
    cost = call.cost
    if cost is not None and cost > limits.max_cost:
        if cost >= limits.storable_cost:
            return (
                f"cost {cost} is beyond what this ledger database can store for one call "
                f"(below {limits.storable_cost:,.0f})"
            )
        return (
            f"cost {cost} {call.currency} for a single call is more than AISPEND_MAX_CALL_COST "
            f"({limits.max_cost}): refused as implausible (raise the setting if such calls are real)"
        )
    now = limits.now
    if now is not None:
        if call.ts > limits.latest:
            return (
                f"timestamp {call.ts.isoformat()} is more than a day after the import's clock "
                f"({now.isoformat()}): refused as implausible (seconds given as milliseconds?)"
            )
        if call.ts < limits.earliest:
            return (
                f"timestamp {call.ts.isoformat()} is more than ten years before the import's clock "
                f"({now.isoformat()}): refused as implausible"
            )
    return None


FIELDS = tuple(ALIASES)  # the canonical fields, in the order build_call takes their values

# The key of a row that answers each field (None when the row has none of its names), one per
# distinct key set: rows from one producer share their keys, so alias resolution happens once per
# file, not once per row.
_LAYOUTS: dict[frozenset[str], tuple[str | None, ...]] = {}


def layout(keys: frozenset[str]) -> tuple[str | None, ...]:
    found = _LAYOUTS.get(keys)
    if found is None:
        found = tuple(next((name for name in names if name in keys), None) for names in ALIASES.values())
        if len(_LAYOUTS) > 4096:  # pathological inputs with ever-changing keys
            _LAYOUTS.clear()
        _LAYOUTS[keys] = found
    return found


_CHECKED = ("provider", "model", "workflow", "feature", "team", "customer", "user", "run_id", "step", "outcome")


def _text(value: Any, field: str) -> str:
    """A text field, stripped; "" when absent. A number is taken as its text; a list, an object or
    true/false is refused rather than stored as Python's rendering of it."""
    if value is None:
        return ""
    if type(value) is str:
        text = value.strip()
    elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        text = str(value)
    else:
        raise RowError(f"{field} must be text, got {_kind(value)} {_shown(value)}")
    if "\x00" in text:
        raise RowError(f"{field} contains a NUL character: {_shown(text)}")
    limit = _TEXT_LIMITS.get(field)
    if limit is not None and len(text) > limit:
        raise RowError(f"{field} is longer than {limit} characters")
    return text


def _kind(value: Any) -> str:
    return {list: "a list", dict: "an object", bool: "true/false"}.get(type(value), type(value).__name__)


def _shown(value: Any, width: int = 60) -> str:
    """A value for an error message: repr, cut to a readable width."""
    text = repr(value)
    return text if len(text) <= width else f"{text[: width - 5]}…{text[-4:]} ({len(text):,} characters)"


def _whole(value: Any, field: str) -> int | None:
    """A non-negative whole number (int, or text/decimal of one); None when absent ("" or null)."""
    if type(value) is int:
        number = value
    elif value is None or value == "":
        return None
    elif isinstance(value, bool):
        raise RowError(f"{field} must be a whole number, got {value!r}")
    else:
        try:
            as_decimal = Decimal(str(value).strip())
            whole = as_decimal.is_finite() and as_decimal == as_decimal.to_integral_value()
        except ArithmeticError:
            whole = False
        if not whole:
            raise RowError(f"{field} must be a whole number, got {_shown(value)}")
        if abs(as_decimal) > MAX_COUNT:
            raise RowError(f"{field} {_shown(value)} is more than the {MAX_COUNT:,} this ledger accepts for one call")
        number = int(as_decimal)
    if number < 0:
        raise RowError(f"{field} must not be negative, got {number}")
    if number > MAX_COUNT:
        raise RowError(f"{field} {number} is more than the {MAX_COUNT:,} this ledger accepts for one call")
    return number


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 (a trailing Z is fine; no offset means UTC) or Unix seconds/milliseconds."""
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)  # the common case; Python 3.11 reads a trailing Z
        except ValueError:
            text = value.strip()
            if text.replace(".", "", 1).isdigit() and text.isascii():
                return _from_unix(Decimal(text))
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise RowError(f"timestamp is not ISO 8601 or Unix seconds: {_shown(value)}") from None
        if parsed.tzinfo is UTC:
            return parsed
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:00-05:00 is past the last representable instant
            raise RowError(f"timestamp is out of range: {_shown(value)}") from None
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return _from_unix(Decimal(value))
    raise RowError(f"timestamp is not ISO 8601 or Unix seconds: {_shown(value)}")


# Unix times beyond year 9999 (in seconds or milliseconds) cannot be a time at all.
_LAST_UNIX_SECOND = 253_402_300_799


def _from_unix(seconds: Decimal) -> datetime:
    given = seconds
    if seconds > 10_000_000_000:  # milliseconds
        seconds /= 1000
    if not seconds.is_finite() or abs(seconds) > _LAST_UNIX_SECOND:
        raise RowError(f"timestamp {given} is out of range for Unix seconds or milliseconds")
    return datetime.fromtimestamp(float(seconds), tz=UTC)  # a time, not money: float is fine


def normalize_call(row: dict[str, Any], default_currency: str = "USD") -> StoredCall:
    """The row (a dict from JSONL or CSV) as a call for the ledger; its cost is decided later
    (see ingest.calls.price_call)."""
    get = row.get
    return build_call([None if key is None else get(key) for key in layout(frozenset(row))], default_currency)


def build_call(values: Sequence[Any], default_currency: str = "USD") -> StoredCall:
    """A call from the values of FIELDS, in that order (None when absent); "" counts as absent too.

    The one place rows are validated, whichever decoder produced the values. Runs once per imported
    row: plain code, no per-field dictionaries."""
    (
        call_id,
        stamp,
        provider,
        model,
        input_tokens,
        uncached_tokens,
        output_tokens,
        cache_read,
        cache_write,
        cache_write_1h,
        cache_write_5m,
        service_tier,
        cost,
        currency,
        workflow,
        feature,
        team,
        customer,
        user,
        run_id,
        step,
        outcome,
        latency_ms,
        prompt_prefix_hash,
    ) = values
    if stamp is None or stamp == "":
        raise RowError("missing timestamp (timestamp / ts / time)")
    ts = parse_timestamp(stamp)
    # Straight-line on purpose: this runs for every imported row. Well-formed values take the inline
    # test; anything else goes through the checking helper, which names the field.
    model = model.strip() if type(model) is str else _text(model, "model")
    if not model:
        raise RowError("missing model (model / gen_ai.request.model / gen_ai.response.model)")
    provider = (provider.strip() if type(provider) is str else _text(provider, "provider")).lower()
    cache_read = (
        cache_read
        if type(cache_read) is int and 0 <= cache_read <= MAX_COUNT
        else _whole(cache_read, "cache_read_tokens")
    )
    cache_write = (
        cache_write
        if type(cache_write) is int and 0 <= cache_write <= MAX_COUNT
        else _whole(cache_write, "cache_write_tokens")
    )
    if cache_write_1h is not None or cache_write_5m is not None:
        cache_write, cache_write_1h = cache_writes(cache_write, cache_write_1h, cache_write_5m)
    cache_read, cache_write = cache_read or 0, cache_write or 0
    if uncached_tokens is not None:
        uncached_tokens = _whole(uncached_tokens, "uncached_input_tokens")
    input_tokens = (
        input_tokens
        if type(input_tokens) is int and 0 <= input_tokens <= MAX_COUNT
        else _whole(input_tokens, "input_tokens")
    )
    if input_tokens is None:
        input_tokens = (uncached_tokens or 0) + cache_read + cache_write
    if cache_read + cache_write > input_tokens:
        raise RowError(
            f"cache tokens ({cache_read} read + {cache_write} write) exceed input_tokens ({input_tokens}); "
            "input_tokens must include cached tokens (or give uncached_input_tokens instead)"
        )
    output_tokens = (
        output_tokens
        if type(output_tokens) is int and 0 <= output_tokens <= MAX_COUNT
        else _whole(output_tokens, "output_tokens")
    )
    if latency_ms is not None:
        latency_ms = (
            latency_ms if type(latency_ms) is int and 0 <= latency_ms <= MAX_COUNT else _whole(latency_ms, "latency_ms")
        )
    workflow = workflow.strip() if type(workflow) is str else _text(workflow, "workflow")
    feature = feature.strip() if type(feature) is str else _text(feature, "feature")
    team = team.strip() if type(team) is str else _text(team, "team")
    customer = customer.strip() if type(customer) is str else _text(customer, "customer")
    user = user.strip() if type(user) is str else _text(user, "user")
    run_id = run_id.strip() if type(run_id) is str else _text(run_id, "run_id")
    step = step.strip() if type(step) is str else _text(step, "step")
    outcome = outcome.strip() if type(outcome) is str else _text(outcome, "outcome")
    checked = (provider, model, workflow, feature, team, customer, user, run_id, step, outcome)
    # One test for the whole row: over the shortest limit (outcome's), or a NUL (PostgreSQL cannot store
    # it in text; a label never has one): check each against its own rules, which names the field.
    if max(map(len, checked)) > 64 or "\x00" in "".join(checked):
        for value, field in zip(checked, _CHECKED, strict=True):
            _text(value, field)
    if cost is not None:
        # A typed decoder hands over a finite Decimal already; anything else is parsed and checked.
        cost = cost if type(cost) is Decimal and cost.is_finite() and cost >= 0 else _cost(cost)
    call = StoredCall(  # positional, in field order: a third of the time of keyword arguments
        "",  # call_key, set below
        ts,
        provider,
        model,
        input_tokens,
        output_tokens or 0,
        cache_read,
        cache_write,
        cost,
        default_currency if currency is None else _currency(currency, default_currency),
        "",  # cost_source, decided by pricing
        False,  # zero_cost_flag, decided by pricing
        workflow,
        feature,
        team,
        customer,
        user,
        run_id,
        step,
        outcome,
        latency_ms,
        None if prompt_prefix_hash is None else _text(prompt_prefix_hash, "prompt_prefix_hash") or None,
        cache_write_1h or 0,
        "" if service_tier is None else _text(service_tier, "service_tier").lower(),
    )
    call.call_key = call_key(
        call, call_id.strip() if type(call_id) is str and "\x00" not in call_id else _text(call_id, "call_id")
    )
    return call


def cache_writes(total: Any, one_hour: Any, five_minute: Any) -> tuple[int, int]:
    """(all cache-write tokens, the one-hour part) from a total and/or Anthropic's split by lifetime.

    The total includes the one-hour writes (as Anthropic's cache_creation_input_tokens does); a part
    that is missing is what the total leaves. Parts that do not add up to the total are refused."""
    written = _whole(total, "cache_write_tokens")
    hour = _whole(one_hour, "cache_write_1h_tokens")
    minutes = _whole(five_minute, "cache_write_5m_tokens")
    if written is None:
        return (hour or 0) + (minutes or 0), hour or 0
    if hour is None:
        if (minutes or 0) > written:
            raise RowError(f"cache_write_5m_tokens ({minutes}) exceed cache_write_tokens ({written})")
        hour = written - (minutes or 0)
    elif minutes is not None and hour + minutes != written:
        raise RowError(
            f"cache writes do not add up: {hour} one-hour + {minutes} five-minute != cache_write_tokens {written}"
        )
    if not 0 <= hour <= written:
        raise RowError(f"cache_write_1h_tokens must be between 0 and cache_write_tokens ({written}), got {hour}")
    return written, hour


def _cost(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        cost = parse_decimal(value if not isinstance(value, float) else str(value), what="cost")
    except MoneyError as exc:
        raise RowError(str(exc)) from None
    if cost < 0:
        raise RowError(f"cost must not be negative for a call, got {cost}")
    return cost


def _currency(value: Any, default: str) -> str:
    if value is None or value == "" or value == default:
        return default
    if type(value) is not str:
        raise RowError(f"not an ISO 4217 currency code: {value!r}")
    try:
        return normalize_currency(value, default)
    except MoneyError as exc:
        raise RowError(str(exc)) from None


def call_key(call: StoredCall, call_id: str) -> str:
    """The natural key: the call id when given, else a hash of the row's normalized content."""
    if call_id:
        key = f"id:{call.provider}:{call_id}"
        if len(key) <= 64:
            return key
        return "id:" + hashlib.blake2b(key.encode(), digest_size=24).hexdigest()
    content = "\x1f".join(
        str(v)
        for v in (
            call.ts.isoformat(),
            call.provider,
            call.model,
            call.input_tokens,
            call.output_tokens,
            call.cache_read_tokens,
            call.cache_write_tokens,
            call.cost,
            call.currency,
            call.workflow,
            call.feature,
            call.team,
            call.customer,
            call.user,
            call.run_id,
            call.step,
            call.outcome,
            call.latency_ms,
            call.prompt_prefix_hash,
            # Only when given, so that rows without them keep the keys they always had.
            *(
                (call.cache_write_1h_tokens, call.service_tier)
                if call.cache_write_1h_tokens or call.service_tier
                else ()
            ),
        )
    )
    return "h:" + hashlib.blake2b(content.encode(), digest_size=24).hexdigest()
