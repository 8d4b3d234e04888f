"""The per-call log schema: field names (OpenTelemetry GenAI names and plain aliases) and validation.

`normalize_call(raw)` turns one parsed row (a dict from JSONL or CSV) into a NormalizedCall or raises
RowError with a reason that names the field. Pure: no I/O, no pricing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

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
}


class RowError(ValueError):
    """A row that cannot be imported; the message is the reason shown to the user."""


@dataclass(slots=True)
class NormalizedCall:
    call_key: str
    ts: datetime
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: Decimal | None  # as given in the row; None when absent
    currency: str
    workflow: str
    feature: str
    team: str
    customer: str
    user: str
    run_id: str
    step: str
    outcome: str
    latency_ms: int | None
    prompt_prefix_hash: str | None


# Which of a row's keys answers each canonical field, cached per distinct key set: rows from one
# producer share their keys, so alias resolution happens once per file, not once per row.
_FIELD_MAPS: dict[frozenset[str], tuple[tuple[str, str], ...]] = {}


def _field_map(keys: frozenset[str]) -> tuple[tuple[str, str], ...]:
    found = _FIELD_MAPS.get(keys)
    if found is None:
        pairs = []
        for canonical, names in ALIASES.items():
            for name in names:
                if name in keys:
                    pairs.append((canonical, name))
                    break
        found = _FIELD_MAPS[keys] = tuple(pairs)
        if len(_FIELD_MAPS) > 4096:  # pathological inputs with ever-changing keys
            _FIELD_MAPS.clear()
    return found


def _canonical(raw: dict[str, Any]) -> dict[str, Any]:
    """{canonical field: value} for the fields present with a value ("" and null count as absent)."""
    out = {}
    for canonical, name in _field_map(frozenset(raw)):
        value = raw[name]
        if value is not None and value != "":
            out[canonical] = value
    return out


def _text(values: dict[str, Any], field: str) -> str:
    value = values.get(field)
    if value is None:
        return ""
    text = value.strip() if type(value) is str else str(value).strip()
    limit = _TEXT_LIMITS.get(field)
    if limit and len(text) > limit:
        raise RowError(f"{field} is longer than {limit} characters")
    return text


_TEXT_FIELDS = ("workflow", "feature", "team", "customer", "user", "run_id", "step", "outcome")


def _texts(values: dict[str, Any]) -> dict[str, str]:
    """The dimension fields, stripped ("" when absent); one loop instead of a call per field."""
    out = {}
    for field in _TEXT_FIELDS:
        value = values.get(field)
        if value is None:
            out[field] = ""
            continue
        text = value.strip() if type(value) is str else str(value).strip()
        if len(text) > _TEXT_LIMITS[field]:
            raise RowError(f"{field} is longer than {_TEXT_LIMITS[field]} characters")
        out[field] = text
    return out


def _int(values: dict[str, Any], field: str, *, default: int | None = 0) -> int | None:
    value = values.get(field)
    if value is None:
        return default
    if type(value) is int:
        number = value
    elif isinstance(value, bool):
        raise RowError(f"{field} must be a whole number, got {value!r}")
    else:
        try:
            as_decimal = Decimal(str(value).strip())
        except ArithmeticError:
            raise RowError(f"{field} must be a whole number, got {value!r}") from None
        if not as_decimal.is_finite() or as_decimal != as_decimal.to_integral_value():
            raise RowError(f"{field} must be a whole number, got {value!r}")
        number = int(as_decimal)
    if number < 0:
        raise RowError(f"{field} must not be negative, got {number}")
    return number


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 (a trailing Z is fine; no offset means UTC) or Unix seconds/milliseconds."""
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)  # the common case; Python 3.11 reads a trailing Z
        except ValueError:
            text = value.strip()
            if text.replace(".", "", 1).isdigit():
                return _from_unix(Decimal(text))
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise RowError(f"timestamp is not ISO 8601 or Unix seconds: {value!r}") from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return _from_unix(Decimal(value))
    raise RowError(f"timestamp is not ISO 8601 or Unix seconds: {value!r}")


def _from_unix(seconds: Decimal) -> datetime:
    if seconds > 10_000_000_000:  # milliseconds
        seconds /= 1000
    return datetime.fromtimestamp(float(seconds), tz=UTC)  # a time, not money: float is fine


def normalize_call(row: dict[str, Any], default_currency: str = "USD") -> NormalizedCall:
    raw = _canonical(row)
    stamp = raw.get("timestamp")
    if stamp is None:
        raise RowError("missing timestamp (timestamp / ts / time)")
    ts = parse_timestamp(stamp)
    model = _text(raw, "model")
    if not model:
        raise RowError("missing model (model / gen_ai.request.model / gen_ai.response.model)")
    provider = _text(raw, "provider").lower()
    cache_read = _int(raw, "cache_read_tokens") or 0
    cache_write = _int(raw, "cache_write_tokens") or 0
    uncached = _int(raw, "uncached_input_tokens", default=None)
    input_tokens = _int(raw, "input_tokens", default=None)
    if input_tokens is None:
        input_tokens = (uncached or 0) + cache_read + cache_write
    if cache_read + cache_write > input_tokens:
        raise RowError(
            f"cache tokens ({cache_read} read + {cache_write} write) exceed input_tokens ({input_tokens}); "
            "input_tokens must include cached tokens (or give uncached_input_tokens instead)"
        )
    output_tokens = _int(raw, "output_tokens") or 0
    cost_value = raw.get("cost")
    cost: Decimal | None = None
    if cost_value is not None:
        try:
            cost = parse_decimal(cost_value if not isinstance(cost_value, float) else str(cost_value), what="cost")
        except MoneyError as exc:
            raise RowError(str(exc)) from None
        if cost < 0:
            raise RowError(f"cost must not be negative for a call, got {cost}")
    try:
        currency = normalize_currency(raw.get("currency"), default_currency)
    except MoneyError as exc:
        raise RowError(str(exc)) from None
    texts = _texts(raw)
    call = NormalizedCall(
        call_key="",
        ts=ts,
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cost=cost,
        currency=currency,
        workflow=texts["workflow"],
        feature=texts["feature"],
        team=texts["team"],
        customer=texts["customer"],
        user=texts["user"],
        run_id=texts["run_id"],
        step=texts["step"],
        outcome=texts["outcome"],
        latency_ms=_int(raw, "latency_ms", default=None),
        prompt_prefix_hash=_text(raw, "prompt_prefix_hash") or None,
    )
    call.call_key = call_key(call, _text(raw, "call_id"))
    return call


def call_key(call: NormalizedCall, call_id: str) -> str:
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
        )
    )
    return "h:" + hashlib.blake2b(content.encode(), digest_size=24).hexdigest()
