"""Langfuse: the generations (observations of type GENERATION) of a project, with their cost and usage.

Public API, basic auth (public key as user, secret key as password):
`GET /api/public/observations?type=GENERATION&fromStartTime=..&toStartTime=..&page=N&limit=100`,
answered with `{"data": [...], "meta": {"page", "limit", "totalItems", "totalPages"}}`; pages are
followed until `totalPages`. This page-numbered endpoint is the one every Langfuse deployment
serves (cloud and self-hosted); the cursor-paged `/api/public/v2/observations` needs Langfuse v4 on
self-hosted deployments and is not used yet. One UTC day per fetch (the engine's window).

Mapping: observation id -> the call id, traceId -> the run id, startTime -> the time, name -> the
step, model, usageDetails (input / output and their cache parts, e.g. `input_cached_tokens`,
`cache_read_input_tokens`, `cache_creation_input_tokens`; the legacy `usage` when it is absent) ->
tokens, costDetails.total (else the sum of costDetails, else calculatedTotalCost) -> the cost as
given in USD; no cost at all -> priced by the price book as a file import is. Attribution: the rules
file matches `name`, `model`, `environment`, `trace_id`, and tags from the observation's metadata.
429 and 5xx are retried by the engine after the server's Retry-After.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Self

import httpx

from aispend.connectors.base import Connector, FatalError, FetchResult, RetryableError, Sleep, Window
from aispend.connectors.callsource import CallBuilder, flat_tags, label, milliseconds
from aispend.connectors.files.call_schema import CallLimits, RowError
from aispend.connectors.normalize import loads_exact, utc_from_iso
from aispend.connectors.throttle import error_for_status
from aispend.core.ledger.calls import StoredCall
from aispend.core.pricing import PriceBook, price_book
from aispend.core.rules.attribution import AttributionRules, load_rules
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, start_of_day, system_clock

SOURCE = "langfuse"
PATH = "/api/public/observations"
PAGE_LIMIT = 100
AUTH_FIX = (
    "set AISPEND_LANGFUSE_PUBLIC_KEY (pk-lf-...) and AISPEND_LANGFUSE_SECRET_KEY (sk-lf-...) to a key pair "
    "of the project (Langfuse: Settings > API keys)"
)
REQUEST_FIX = "check AISPEND_LANGFUSE_HOST points at the Langfuse server (https://cloud.langfuse.com, or your own)"
_CACHE_READ = ("cache_read", "cached")
_CACHE_WRITE = ("cache_creation", "cache_write")


@dataclass
class LangfuseConnector(Connector):
    host: str = "https://cloud.langfuse.com"
    public_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)  # a secret: never in a repr, log or error
    rules: AttributionRules = field(default_factory=AttributionRules)
    prices: PriceBook = field(default_factory=PriceBook)
    limits: CallLimits = field(default_factory=CallLimits)
    timeout: float = 60.0
    clock: Clock = system_clock
    page_limit: int = PAGE_LIMIT
    transport: httpx.BaseTransport | None = None
    name: str = SOURCE
    max_window_days: int | None = 1

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Self:
        """`sleep` is unused: the engine retries a throttled fetch."""
        secret = settings.langfuse_secret_key
        return cls(
            host=settings.langfuse_host,
            public_key=settings.langfuse_public_key,
            secret_key=secret.get_secret_value() if secret is not None else None,
            rules=load_rules(settings.attribution_file),
            prices=price_book(settings),
            limits=CallLimits(settings.max_call_cost),
            timeout=settings.sync_http_timeout_seconds,
            clock=clock,
        )

    def is_configured(self) -> bool:
        return bool(self.public_key and self.secret_key)

    def fetch(self, window: Window) -> FetchResult:
        if not self.public_key or not self.secret_key:
            raise FatalError(self.name, "not configured", AUTH_FIX)
        params = {
            "type": "GENERATION",
            "fromStartTime": _iso(start_of_day(window.start)),
            "toStartTime": _iso(start_of_day(window.end)),
            "limit": str(self.page_limit),
        }
        builder = CallBuilder(self.name, self.rules, self.prices, self.limits)
        calls: list[StoredCall] = []
        rejected: list[str] = []
        page = total_pages = 1
        requests = 0
        with httpx.Client(
            base_url=self.host.strip().rstrip("/"),
            auth=httpx.BasicAuth(self.public_key, self.secret_key),
            timeout=self.timeout,
            transport=self.transport,
        ) as client:
            while page <= total_pages:
                body = self._page(client, {**params, "page": str(page)}, page)
                requests += 1
                data, meta = body.get("data"), body.get("meta")
                if not isinstance(data, list) or not isinstance(meta, dict):
                    raise FatalError(self.name, f"{PATH} page {page} has no `data` list and `meta` object", REQUEST_FIX)
                total = meta.get("totalPages")
                if not isinstance(total, int) or isinstance(total, bool) or total < 0:
                    raise FatalError(self.name, f"{PATH} page {page}: meta.totalPages is {total!r}", REQUEST_FIX)
                total_pages = total
                for index, item in enumerate(data):
                    where = f"observation {item.get('id')!r}" if isinstance(item, dict) else f"page {page} item {index}"
                    try:
                        calls.append(self._call(builder, item))
                    except RowError as exc:
                        rejected.append(f"{where}: {exc}")
                if not data:
                    break
                page += 1
        return FetchResult(lines=(), requests=requests, calls=calls, rejected=rejected)

    def _page(self, client: httpx.Client, params: dict[str, str], page: int) -> dict[str, Any]:
        try:
            response = client.get(PATH, params=params)
        except httpx.TransportError as exc:  # timeouts, refused connections, resets
            raise RetryableError(self.name, f"cannot reach {PATH}: {exc!r}") from None
        if response.status_code != 200:
            raise error_for_status(
                self.name,
                response.status_code,
                dict(response.headers),
                response.text,
                now=self.clock(),
                auth_fix=AUTH_FIX,
                request_fix=REQUEST_FIX,
            )
        try:
            body = loads_exact(response.text)
        except ValueError:
            raise RetryableError(self.name, f"{PATH} page {page} answered with invalid JSON") from None
        if not isinstance(body, dict):
            raise FatalError(self.name, f"{PATH} page {page} is not a JSON object", REQUEST_FIX)
        return body

    def _call(self, builder: CallBuilder, item: Any) -> StoredCall:
        if not isinstance(item, dict):
            raise RowError(f"not a JSON object: {type(item).__name__}")
        started = _time(item.get("startTime"), "startTime")
        ended = _time(item.get("endTime"), "endTime") if item.get("endTime") else None
        input_tokens, output_tokens, cache_read, cache_write = _usage(item.get("usageDetails"), item.get("usage"))
        model = label(item.get("model"))
        trace_id = label(item.get("traceId"))
        values: dict[str, Any] = {
            "timestamp": started.isoformat(),
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write,
            "cost": _cost(item),
            "currency": "USD",
            "run_id": trace_id,
            "step": label(item.get("name")),
            "latency_ms": milliseconds(started, ended),
        }
        fields = {
            "model": model,
            "name": label(item.get("name")),
            "environment": label(item.get("environment")),
            "trace_id": trace_id,
            "level": label(item.get("level")),
        }
        return builder.call(label(item.get("id")), values, fields=fields, tags=flat_tags(item.get("metadata")))


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise RowError(f"{name} is missing or not a time: {value!r}")
    try:
        return utc_from_iso(value)
    except ValueError:
        raise RowError(f"{name} is not an ISO 8601 time: {value!r}") from None


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise RowError(f"usage {name} is not a number: {value!r}")
    if value < 0 or value != int(value):
        raise RowError(f"usage {name} must be a whole number of tokens >= 0, got {value}")
    return int(value)


def _usage(details: Any, legacy: Any) -> tuple[int, int, int, int]:
    """(input tokens including cache, output tokens, cache read, cache write).

    Langfuse's usage types are disjoint (its `total` is their sum): `input` is the uncached input, the
    cache parts are types of their own, and `output_*` parts (reasoning, audio) add to `output`."""
    if isinstance(details, dict) and details:
        inputs = outputs = read = write = 0
        for key, value in details.items():
            if key == "total":
                continue
            count = _count(value, key)
            name = key.lower()
            if name.startswith("output"):
                outputs += count
            elif any(part in name for part in _CACHE_READ):
                read += count
            elif any(part in name for part in _CACHE_WRITE):
                write += count
            else:
                inputs += count
        return inputs + read + write, outputs, read, write
    if isinstance(legacy, dict):
        given_in, given_out = legacy.get("input"), legacy.get("output")
        return (
            0 if given_in is None else _count(given_in, "input"),
            0 if given_out is None else _count(given_out, "output"),
            0,
            0,
        )
    return 0, 0, 0, 0


def _cost(item: dict[str, Any]) -> Any:
    """The cost Langfuse gives (ingested or computed from its model prices), or None."""
    details = item.get("costDetails")
    if isinstance(details, dict) and details:
        if "total" in details:
            return details["total"]
        parts = list(details.values())
        if not all(isinstance(p, int | Decimal) and not isinstance(p, bool) for p in parts):
            raise RowError(f"costDetails has a value that is not a number: {details!r}")
        return sum(parts, Decimal(0))
    return item.get("calculatedTotalCost")
