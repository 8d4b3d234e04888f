"""OpenAI organization admin API: daily costs (what the invoice shows) and completions token usage.

Uses the official `openai` client (`client.admin.organization.usage`) with its own retries off:
the sync engine owns retries so that every source backs off the same way. Raw responses are
parsed with Decimal so that `amount.value` (a JSON float) never passes through float.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

import openai
from openai import OpenAI

from aispend.connectors.base import Connector, FatalError, FetchResult, RetryableError, Sleep, Window
from aispend.connectors.normalize import (
    amount,
    loads_exact,
    natural_key,
    parsing,
    tokens,
    utc_from_unix,
)
from aispend.connectors.throttle import api_root, error_for_status
from aispend.core.ai_services import AI_SERVICE_CATEGORY
from aispend.core.money import MoneyError, normalize_currency
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, start_of_day, system_clock
from aispend.ledger.costlines import CostLineIn
from aispend.rules.attribution import AttributionRules, load_rules
from aispend.usage.store import UsageLineIn

SOURCE = "openai"
PROVIDER_NAME = "OpenAI"
SERVICE_NAME = "OpenAI API"
AUTH_FIX = (
    "set AISPEND_OPENAI_ADMIN_KEY to an organization admin key (sk-admin-...) created by an "
    "organization Owner under Settings > Admin keys"
)
REQUEST_FIX = "check AISPEND_OPENAI_BASE_URL points at the OpenAI API (or a proxy that forwards /v1/organization)"
# Buckets per page: a 31-day window (the engine's largest) fits one page of each report.
PAGE_LIMIT = 31


@dataclass
class OpenAIAdminConnector(Connector):
    admin_key: str | None
    base_url: str = "https://api.openai.com/v1"
    rules: AttributionRules = field(default_factory=AttributionRules)
    timeout: float = 60.0
    clock: Clock = system_clock
    page_limit: int = PAGE_LIMIT
    name: str = SOURCE

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Self:
        """`sleep` is unused: this connector never waits itself (the engine retries)."""
        key = settings.openai_admin_key
        return cls(
            admin_key=key.get_secret_value() if key is not None else None,
            base_url=settings.openai_base_url,
            rules=load_rules(settings.attribution_file),
            timeout=settings.sync_http_timeout_seconds,
            clock=clock,
        )

    def is_configured(self) -> bool:
        return bool(self.admin_key)

    def fetch(self, window: Window) -> FetchResult:
        if not self.admin_key:
            raise FatalError(self.name, "not configured", AUTH_FIX)
        with OpenAI(
            admin_api_key=self.admin_key,
            base_url=api_root(self.base_url) + "/v1",
            max_retries=0,  # the sync engine retries, with its own backoff and time limit
            timeout=self.timeout,
        ) as client:
            return self._fetch(client, window)

    def _fetch(self, client: OpenAI, window: Window) -> FetchResult:
        usage_api = client.admin.organization.usage.with_raw_response
        start = int(start_of_day(window.start).timestamp())
        end = int(start_of_day(window.end).timestamp())
        requests = 0
        lines: list[CostLineIn] = []
        freshest: datetime | None = None
        cost_pages = self._pages(
            usage_api.costs,
            start_time=start,
            end_time=end,
            bucket_width="1d",
            group_by=["project_id", "line_item"],
            limit=self.page_limit,
        )
        for page in cost_pages:
            requests += 1
            with parsing(self.name, f"/v1/organization/costs page {requests}", REQUEST_FIX):
                for bucket in page["data"]:
                    bucket_lines = [self._cost_line(bucket, result) for result in bucket["results"]]
                    lines.extend(bucket_lines)
                    if bucket_lines:
                        freshest = _later(freshest, utc_from_unix(bucket["end_time"]))
        usage: list[UsageLineIn] = []
        usage_pages = self._pages(
            usage_api.completions,
            start_time=start,
            end_time=end,
            bucket_width="1d",
            group_by=["project_id", "api_key_id", "model"],
            limit=self.page_limit,
        )
        for index, page in enumerate(usage_pages, start=1):
            requests += 1
            with parsing(self.name, f"/v1/organization/usage/completions page {index}", REQUEST_FIX):
                for bucket in page["data"]:
                    usage.extend(self._usage_line(bucket, result) for result in bucket["results"])
        now = self.clock()
        return FetchResult(
            lines=lines,
            requests=requests,
            freshest_data_at=min(freshest, now) if freshest else None,
            usage=usage,
        )

    def _pages(self, call: Callable[..., Any], **params: Any) -> Iterator[dict[str, Any]]:
        """Each page of a report, following `next_page` while `has_more`."""
        page: str | None = None
        seen: set[str] = set()
        while True:
            body = self._call(call, **params, **({"page": page} if page else {}))
            yield body
            page = body.get("next_page")
            if not body.get("has_more") or not page:
                return
            if page in seen:
                raise FatalError(self.name, f"the API returned the page cursor {page!r} twice", REQUEST_FIX)
            seen.add(page)

    def _call(self, call: Callable[..., Any], **params: Any) -> dict[str, Any]:
        try:
            raw = call(**params)
        except openai.APIStatusError as exc:
            raise error_for_status(
                self.name,
                exc.status_code,
                dict(exc.response.headers),
                exc.response.text,
                now=self.clock(),
                auth_fix=AUTH_FIX,
                request_fix=REQUEST_FIX,
            ) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise RetryableError(self.name, f"cannot reach the API: {exc}") from None
        body = loads_exact(raw.http_response.text)
        if not isinstance(body, dict):
            raise FatalError(self.name, "the API answered with something other than a JSON object", REQUEST_FIX)
        return body

    def _cost_line(self, bucket: dict[str, Any], result: dict[str, Any]) -> CostLineIn:
        start = utc_from_unix(bucket["start_time"])
        end = utc_from_unix(bucket["end_time"])
        day = start.date()
        money = result.get("amount") or {}
        project_id = result.get("project_id") or ""
        line_item = result.get("line_item") or ""
        try:
            value = amount(money.get("value"), what=f"OpenAI cost for {day} {project_id} {line_item!r}")
            currency = normalize_currency(money.get("currency"))
        except MoneyError as exc:
            raise FatalError(self.name, str(exc), "report this response to the aispend maintainers") from None
        model = _model_of_line_item(line_item)
        quantity = result.get("quantity")
        dims = self.rules.attribute(
            {
                "source": self.name,
                "provider": "openai",
                "service_name": SERVICE_NAME,
                "sub_account": project_id,
                "project_id": project_id,
                "api_key_id": result.get("api_key_id") or "",
                "model": model,
                "line_item": line_item,
            },
            {},
        )
        return CostLineIn(
            source=self.name,
            natural_key=natural_key(
                day,
                project_id,
                line_item,
                result.get("api_key_id"),
                result.get("user_id"),
                result.get("api_source"),
                currency,
            ),
            charge_period_start=start,
            charge_period_end=end,
            billed_cost=value,
            effective_cost=value,
            billing_currency=currency,
            provider=PROVIDER_NAME,
            service_name=SERVICE_NAME,
            service_category=AI_SERVICE_CATEGORY,
            charge_category="Usage",
            sku_id=line_item or None,
            consumed_quantity=amount(quantity, what="quantity") if quantity is not None else None,
            consumed_unit=result.get("quantity_unit"),
            tags={"openai:project_id": project_id} if project_id else {},
            is_ai=True,
            model=model,
            workflow=dims["workflow"],
            feature=dims["feature"],
            team=dims["team"],
            customer=dims["customer"],
            environment=dims["environment"],
        )

    def _usage_line(self, bucket: dict[str, Any], result: dict[str, Any]) -> UsageLineIn:
        day = utc_from_unix(bucket["start_time"]).date()
        project_id = result.get("project_id") or ""
        api_key_id = result.get("api_key_id") or ""
        model = result.get("model") or ""
        tier = result.get("service_tier") or ""
        batch = result.get("batch")
        dims = self.rules.attribute(
            {
                "source": self.name,
                "provider": "openai",
                "sub_account": project_id,
                "project_id": project_id,
                "api_key_id": api_key_id,
                "model": model,
            },
            {},
        )
        return UsageLineIn(
            source=self.name,
            natural_key=natural_key(
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
            day=day,
            provider="openai",
            model=model,
            sub_account=project_id,
            api_key_id=api_key_id,
            service_tier=tier,
            requests=tokens(result.get("num_model_requests")),
            input_tokens=tokens(result.get("input_tokens")),  # OpenAI's input count includes cached tokens
            output_tokens=tokens(result.get("output_tokens")),
            cache_read_tokens=tokens(result.get("input_cached_tokens")),
            cache_write_tokens=tokens(result.get("input_cache_write_tokens")),
            workflow=dims["workflow"],
            feature=dims["feature"],
            team=dims["team"],
            customer=dims["customer"],
        )


def _model_of_line_item(line_item: str) -> str:
    """ "gpt-4o-2024-08-06, input" -> "gpt-4o-2024-08-06"; items without a model part give ""."""
    head, sep, _ = line_item.partition(",")
    return head.strip() if sep else ""


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current
