"""OpenAI organization admin API: daily costs (what the invoice shows) and completions token usage.

Uses the official `openai` client (`client.admin.organization.usage`) with its own retries off:
the sync engine owns retries so that every source backs off the same way. Raw responses are
parsed with Decimal so that `amount.value` (a JSON float) never passes through float. Paging,
error mapping and the fetch itself are the admin-API skeleton's (adminapi.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import openai
from openai import OpenAI
from pydantic import SecretStr

from aispend.connectors.adminapi import AdminApiConnector, Bucket, Report
from aispend.connectors.base import Window
from aispend.connectors.normalize import amount, natural_key, tokens, utc_from_unix
from aispend.connectors.throttle import api_root
from aispend.core.ledger.costlines import CostLineIn
from aispend.core.ledger.usage import UsageLineIn
from aispend.core.settings import Settings
from aispend.core.timeutil import start_of_day

SOURCE = "openai"
PROVIDER_NAME = "OpenAI"
SERVICE_NAME = "OpenAI API"
AUTH_FIX = (
    "set AISPEND_OPENAI_ADMIN_KEY to an organization admin key (sk-admin-...) created by an "
    "organization Owner under Settings > Admin keys"
)
REQUEST_FIX = "check AISPEND_OPENAI_BASE_URL points at the OpenAI API (or a proxy that forwards /v1/organization)"
COSTS = "/v1/organization/costs"
COMPLETIONS = "/v1/organization/usage/completions"


@dataclass
class OpenAIAdminConnector(AdminApiConnector):
    base_url: str = "https://api.openai.com/v1"
    name: str = SOURCE

    provider = "openai"
    provider_name = PROVIDER_NAME
    service_name = SERVICE_NAME
    auth_fix = AUTH_FIX
    request_fix = REQUEST_FIX

    @classmethod
    def _key_and_url(cls, settings: Settings) -> tuple[SecretStr | None, str]:
        return settings.openai_admin_key, settings.openai_base_url

    def _client(self, admin_key: str) -> OpenAI:
        return OpenAI(
            admin_api_key=admin_key,
            base_url=api_root(self.base_url) + "/v1",
            max_retries=0,  # the sync engine retries, with its own backoff and time limit
            timeout=self.timeout,
        )

    def _reports(self, window: Window) -> tuple[Report, Report]:
        bounds = {
            "start_time": int(start_of_day(window.start).timestamp()),
            "end_time": int(start_of_day(window.end).timestamp()),
            "bucket_width": "1d",
            "limit": self.page_limit,
        }
        return (
            Report(COSTS, {**bounds, "group_by": ["project_id", "line_item"]}),
            Report(COMPLETIONS, {**bounds, "group_by": ["project_id", "api_key_id", "model"]}),
        )

    def _get(self, client: OpenAI, report: Report, cursor: str | None) -> str:
        usage_api = client.admin.organization.usage.with_raw_response
        call = usage_api.costs if report.path == COSTS else usage_api.completions
        params: dict[str, Any] = {**report.params, **({"page": cursor} if cursor else {})}
        try:
            raw = call(**params)
        except openai.APIStatusError as exc:
            raise self._status_error(exc.status_code, dict(exc.response.headers), exc.response.text) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise self._unreachable("the API", exc) from None
        return str(raw.http_response.text)

    def _bucket_end(self, bucket: Bucket) -> datetime:
        return utc_from_unix(bucket["end_time"])

    def _cost_line(self, bucket: Bucket, result: dict[str, Any]) -> CostLineIn:
        start = utc_from_unix(bucket["start_time"])
        day = start.date()
        money = result.get("amount") or {}
        project_id = result.get("project_id") or ""
        line_item = result.get("line_item") or ""
        value, currency = self._money(
            money.get("value"), money.get("currency"), what=f"OpenAI cost for {day} {project_id} {line_item!r}"
        )
        model = _model_of_line_item(line_item)
        quantity = result.get("quantity")
        dims = self._dims(
            {
                "service_name": SERVICE_NAME,
                "sub_account": project_id,
                "project_id": project_id,
                "api_key_id": result.get("api_key_id") or "",
                "model": model,
                "line_item": line_item,
            }
        )
        return self._ai_cost_line(
            (start, utc_from_unix(bucket["end_time"])),
            key=natural_key(
                day,
                project_id,
                line_item,
                result.get("api_key_id"),
                result.get("user_id"),
                result.get("api_source"),
                currency,
            ),
            value=value,
            currency=currency,
            model=model,
            dims=dims,
            sku_id=line_item or None,
            consumed_quantity=amount(quantity, what="quantity") if quantity is not None else None,
            consumed_unit=result.get("quantity_unit"),
            tags={"openai:project_id": project_id} if project_id else {},
        )

    def _usage_line(self, bucket: Bucket, result: dict[str, Any]) -> UsageLineIn:
        day = utc_from_unix(bucket["start_time"]).date()
        project_id = result.get("project_id") or ""
        api_key_id = result.get("api_key_id") or ""
        model = result.get("model") or ""
        tier = result.get("service_tier") or ""
        batch = result.get("batch")
        return self._ai_usage_line(
            day,
            key=natural_key(
                day,
                "completions",
                project_id,
                api_key_id,
                model,
                tier,
                batch,
                result.get("user_id"),
                result.get("api_source"),
            ),
            model=model,
            sub_account=project_id,
            api_key_id=api_key_id,
            tier=tier,
            fields={"project_id": project_id},
            requests=tokens(result.get("num_model_requests")),
            input_tokens=tokens(result.get("input_tokens")),  # OpenAI's input count includes cached tokens
            output_tokens=tokens(result.get("output_tokens")),
            cache_read_tokens=tokens(result.get("input_cached_tokens")),
            cache_write_tokens=tokens(result.get("input_cache_write_tokens")),
        )


def _model_of_line_item(line_item: str) -> str:
    """ "gpt-4o-2024-08-06, input" -> "gpt-4o-2024-08-06"; items without a model part give ""."""
    head, sep, _ = line_item.partition(",")
    return head.strip() if sep else ""
