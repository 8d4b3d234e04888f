"""Anthropic admin API: the daily cost report (amounts are strings in cents) and messages token usage.

The `anthropic` SDK does not wrap these two reports, so they are called with httpx (the SDK's own
HTTP library) using the documented headers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Self

import httpx

from aispend.connectors.base import Connector, FatalError, FetchResult, RetryableError, Sleep, Window
from aispend.connectors.normalize import (
    amount,
    loads_exact,
    natural_key,
    parsing,
    tokens,
    utc_from_iso,
)
from aispend.connectors.throttle import api_root, error_for_status
from aispend.core.ai_services import AI_SERVICE_CATEGORY
from aispend.core.money import MoneyError, normalize_currency
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, start_of_day, system_clock
from aispend.ledger.costlines import CostLineIn
from aispend.rules.attribution import AttributionRules, load_rules
from aispend.usage.store import UsageLineIn

SOURCE = "anthropic"
PROVIDER_NAME = "Anthropic"
SERVICE_NAME = "Claude API"
API_VERSION = "2023-06-01"
DEFAULT_WORKSPACE = "default"  # the API reports the default workspace as null
AUTH_FIX = "set AISPEND_ANTHROPIC_ADMIN_KEY to an Admin API key (sk-ant-admin...) created by an organization admin"
REQUEST_FIX = (
    "check AISPEND_ANTHROPIC_BASE_URL points at the Anthropic API (or a proxy that forwards /v1/organizations)"
)
PAGE_LIMIT = 31  # the most daily buckets either report returns per page
CENTS = Decimal(100)
Params = list[tuple[str, str | int | float | bool | None]]


@dataclass
class AnthropicAdminConnector(Connector):
    admin_key: str | None
    base_url: str = "https://api.anthropic.com"
    rules: AttributionRules = field(default_factory=AttributionRules)
    timeout: float = 60.0
    clock: Clock = system_clock
    page_limit: int = PAGE_LIMIT
    transport: httpx.BaseTransport | None = None
    name: str = SOURCE

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Self:
        """`sleep` is unused: this connector never waits itself (the engine retries)."""
        key = settings.anthropic_admin_key
        return cls(
            admin_key=key.get_secret_value() if key is not None else None,
            base_url=settings.anthropic_base_url,
            rules=load_rules(settings.attribution_file),
            timeout=settings.sync_http_timeout_seconds,
            clock=clock,
        )

    def is_configured(self) -> bool:
        return bool(self.admin_key)

    def fetch(self, window: Window) -> FetchResult:
        if not self.admin_key:
            raise FatalError(self.name, "not configured", AUTH_FIX)
        bounds: Params = [
            ("starting_at", _rfc3339(start_of_day(window.start))),
            ("ending_at", _rfc3339(start_of_day(window.end))),
            ("bucket_width", "1d"),
            ("limit", str(self.page_limit)),
        ]
        requests = 0
        lines: list[CostLineIn] = []
        usage: list[UsageLineIn] = []
        freshest: datetime | None = None
        with httpx.Client(
            base_url=api_root(self.base_url),
            headers={"x-api-key": self.admin_key, "anthropic-version": API_VERSION},
            timeout=self.timeout,
            transport=self.transport,
        ) as client:
            cost_params: Params = [*bounds, ("group_by[]", "workspace_id"), ("group_by[]", "description")]
            for index, page in enumerate(self._pages(client, "/v1/organizations/cost_report", cost_params), 1):
                requests += 1
                with parsing(self.name, f"/v1/organizations/cost_report page {index}", REQUEST_FIX):
                    for bucket in page["data"]:
                        bucket_lines = [self._cost_line(bucket, result) for result in bucket["results"]]
                        lines.extend(bucket_lines)
                        bucket_end = utc_from_iso(bucket["ending_at"])
                        if bucket_lines and (freshest is None or bucket_end > freshest):
                            freshest = bucket_end
            usage_params: Params = [
                *bounds,
                ("group_by[]", "model"),
                ("group_by[]", "workspace_id"),
                ("group_by[]", "api_key_id"),
                ("group_by[]", "service_tier"),
            ]
            usage_path = "/v1/organizations/usage_report/messages"
            for index, page in enumerate(self._pages(client, usage_path, usage_params), 1):
                requests += 1
                with parsing(self.name, f"{usage_path} page {index}", REQUEST_FIX):
                    for bucket in page["data"]:
                        usage.extend(self._usage_line(bucket, result) for result in bucket["results"])
        now = self.clock()
        return FetchResult(
            lines=lines,
            requests=requests,
            freshest_data_at=min(freshest, now) if freshest else None,
            usage=usage,
        )

    def _pages(self, client: httpx.Client, path: str, params: Params) -> Iterator[dict[str, Any]]:
        page: str | None = None
        seen: set[str] = set()
        while True:
            body = self._get(client, path, [*params, ("page", page)] if page else params)
            yield body
            page = body.get("next_page")
            if not body.get("has_more") or not page:
                return
            if page in seen:
                raise FatalError(self.name, f"{path} returned the page cursor {page!r} twice", REQUEST_FIX)
            seen.add(page)

    def _get(self, client: httpx.Client, path: str, params: Params) -> dict[str, Any]:
        try:
            response = client.get(path, params=params)
        except httpx.TransportError as exc:  # timeouts, refused connections, resets
            raise RetryableError(self.name, f"cannot reach {path}: {exc!r}") from None
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
            raise RetryableError(self.name, f"{path} answered with invalid JSON") from None
        if not isinstance(body, dict):
            raise FatalError(self.name, f"{path} answered with something other than a JSON object", REQUEST_FIX)
        return body

    def _cost_line(self, bucket: dict[str, Any], result: dict[str, Any]) -> CostLineIn:
        start = utc_from_iso(bucket["starting_at"])
        end = utc_from_iso(bucket["ending_at"])
        day = start.date()
        workspace = result.get("workspace_id") or DEFAULT_WORKSPACE
        description = result.get("description") or ""
        model = result.get("model") or ""
        try:
            cents = amount(result.get("amount"), what=f"Anthropic cost for {day} {workspace} {description!r}")
            currency = normalize_currency(result.get("currency"))
        except MoneyError as exc:
            raise FatalError(self.name, str(exc), "report this response to the aispend maintainers") from None
        value = cents / CENTS  # the cost report speaks cents: "123.45" is $1.2345
        token_type = result.get("token_type") or ""
        dims = self.rules.attribute(
            {
                "source": self.name,
                "provider": "anthropic",
                "service_name": SERVICE_NAME,
                "sub_account": workspace,
                "workspace_id": workspace,
                "model": model,
            },
            {},
        )
        parts = (
            workspace,
            description,
            result.get("cost_type"),
            token_type,
            model,
            result.get("service_tier"),
            result.get("context_window"),
            result.get("inference_geo"),
            currency,
        )
        return CostLineIn(
            source=self.name,
            natural_key=natural_key(day, *parts),
            charge_period_start=start,
            charge_period_end=end,
            billed_cost=value,
            effective_cost=value,
            billing_currency=currency,
            provider=PROVIDER_NAME,
            service_name=SERVICE_NAME,
            service_category=AI_SERVICE_CATEGORY,
            charge_category="Usage",
            sku_id=(description or " ".join(p for p in (model, token_type) if p)) or None,
            region=result.get("inference_geo") or None,
            tags={"anthropic:workspace_id": workspace},
            is_ai=True,
            model=model,
            workflow=dims["workflow"],
            feature=dims["feature"],
            team=dims["team"],
            customer=dims["customer"],
            environment=dims["environment"],
        )

    def _usage_line(self, bucket: dict[str, Any], result: dict[str, Any]) -> UsageLineIn:
        day = utc_from_iso(bucket["starting_at"]).date()
        workspace = result.get("workspace_id") or DEFAULT_WORKSPACE
        api_key_id = result.get("api_key_id") or ""  # null = usage from the Console
        model = result.get("model") or ""
        tier = result.get("service_tier") or ""
        creation = result.get("cache_creation") or {}
        cache_write = tokens(creation.get("ephemeral_5m_input_tokens")) + tokens(
            creation.get("ephemeral_1h_input_tokens")
        )
        cache_read = tokens(result.get("cache_read_input_tokens"))
        dims = self.rules.attribute(
            {
                "source": self.name,
                "provider": "anthropic",
                "sub_account": workspace,
                "workspace_id": workspace,
                "api_key_id": api_key_id,
                "model": model,
            },
            {},
        )
        return UsageLineIn(
            source=self.name,
            natural_key=natural_key(
                day,
                "messages",
                model,
                workspace,
                api_key_id,
                tier,
                result.get("context_window"),
                result.get("inference_geo"),
            ),
            day=day,
            provider="anthropic",
            model=model,
            sub_account=workspace,
            api_key_id=api_key_id,
            service_tier=tier,
            # Same meaning as call_record.input_tokens: every input token, cached or not.
            input_tokens=tokens(result.get("uncached_input_tokens")) + cache_read + cache_write,
            output_tokens=tokens(result.get("output_tokens")),
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            workflow=dims["workflow"],
            feature=dims["feature"],
            team=dims["team"],
            customer=dims["customer"],
        )


def _rfc3339(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
