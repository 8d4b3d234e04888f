"""Anthropic admin API: the daily cost report (amounts are strings in cents) and messages token usage.

The `anthropic` SDK does not wrap these two reports, so they are called with httpx (the SDK's own
HTTP library) using the documented headers. Paging, error mapping and the fetch itself are the
admin-API skeleton's (adminapi.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from aispend.connectors.adminapi import AdminApiConnector, Bucket, Report
from aispend.connectors.base import Window
from aispend.connectors.normalize import natural_key, tokens, utc_from_iso
from aispend.connectors.throttle import api_root
from aispend.core.ledger.costlines import CostLineIn
from aispend.core.ledger.usage import UsageLineIn
from aispend.core.settings import Settings
from aispend.core.timeutil import start_of_day

SOURCE = "anthropic"
PROVIDER_NAME = "Anthropic"
SERVICE_NAME = "Claude API"
API_VERSION = "2023-06-01"
DEFAULT_WORKSPACE = "default"  # the API reports the default workspace as null
AUTH_FIX = "set AISPEND_ANTHROPIC_ADMIN_KEY to an Admin API key (sk-ant-admin...) created by an organization admin"
REQUEST_FIX = (
    "check AISPEND_ANTHROPIC_BASE_URL points at the Anthropic API (or a proxy that forwards /v1/organizations)"
)
CENTS = Decimal(100)
Params = list[tuple[str, str | int | float | bool | None]]


@dataclass
class AnthropicAdminConnector(AdminApiConnector):
    base_url: str = "https://api.anthropic.com"
    transport: httpx.BaseTransport | None = None
    name: str = SOURCE

    provider = "anthropic"
    provider_name = PROVIDER_NAME
    service_name = SERVICE_NAME
    auth_fix = AUTH_FIX
    request_fix = REQUEST_FIX

    @classmethod
    def _key_and_url(cls, settings: Settings) -> tuple[SecretStr | None, str]:
        return settings.anthropic_admin_key, settings.anthropic_base_url

    def _client(self, admin_key: str) -> httpx.Client:
        return httpx.Client(
            base_url=api_root(self.base_url),
            headers={"x-api-key": admin_key, "anthropic-version": API_VERSION},
            timeout=self.timeout,
            transport=self.transport,
        )

    def _reports(self, window: Window) -> tuple[Report, Report]:
        bounds: Params = [
            ("starting_at", _rfc3339(start_of_day(window.start))),
            ("ending_at", _rfc3339(start_of_day(window.end))),
            ("bucket_width", "1d"),
            ("limit", str(self.page_limit)),
        ]
        usage_groups = ("model", "workspace_id", "api_key_id", "service_tier")
        return (
            Report(
                "/v1/organizations/cost_report",
                [*bounds, ("group_by[]", "workspace_id"), ("group_by[]", "description")],
            ),
            Report(
                "/v1/organizations/usage_report/messages",
                [*bounds, *(("group_by[]", group) for group in usage_groups)],
            ),
        )

    def _get(self, client: httpx.Client, report: Report, cursor: str | None) -> str:
        params: Params = [*report.params, ("page", cursor)] if cursor else report.params
        try:
            response = client.get(report.path, params=params)
        except httpx.TransportError as exc:  # timeouts, refused connections, resets
            raise self._unreachable(report.path, repr(exc)) from None
        if response.status_code != 200:
            raise self._status_error(response.status_code, dict(response.headers), response.text)
        return response.text

    def _bucket_end(self, bucket: Bucket) -> datetime:
        return utc_from_iso(bucket["ending_at"])

    def _cost_line(self, bucket: Bucket, result: dict[str, Any]) -> CostLineIn:
        start = utc_from_iso(bucket["starting_at"])
        day = start.date()
        workspace = result.get("workspace_id") or DEFAULT_WORKSPACE
        description = result.get("description") or ""
        model = result.get("model") or ""
        cents, currency = self._money(
            result.get("amount"),
            result.get("currency"),
            what=f"Anthropic cost for {day} {workspace} {description!r}",
        )
        value = cents / CENTS  # the cost report speaks cents: "123.45" is $1.2345
        token_type = result.get("token_type") or ""
        dims = self._dims(
            {"service_name": SERVICE_NAME, "sub_account": workspace, "workspace_id": workspace, "model": model}
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
        return self._ai_cost_line(
            (start, utc_from_iso(bucket["ending_at"])),
            key=natural_key(day, *parts),
            value=value,
            currency=currency,
            model=model,
            dims=dims,
            sku_id=(description or " ".join(p for p in (model, token_type) if p)) or None,
            region=result.get("inference_geo") or None,
            tags={"anthropic:workspace_id": workspace},
        )

    def _usage_line(self, bucket: Bucket, result: dict[str, Any]) -> UsageLineIn:
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
        return self._ai_usage_line(
            day,
            key=natural_key(
                day,
                "messages",
                model,
                workspace,
                api_key_id,
                tier,
                result.get("context_window"),
                result.get("inference_geo"),
            ),
            model=model,
            sub_account=workspace,
            api_key_id=api_key_id,
            tier=tier,
            fields={"workspace_id": workspace},
            # Same meaning as call_record.input_tokens: every input token, cached or not.
            input_tokens=tokens(result.get("uncached_input_tokens")) + cache_read + cache_write,
            output_tokens=tokens(result.get("output_tokens")),
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )


def _rfc3339(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
