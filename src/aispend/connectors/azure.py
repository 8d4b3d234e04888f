"""Azure Cost Management connector: daily AI-service cost by service, resource and tag keys.

The Query API allows at most two groupings per query, so one window chunk makes:
- a cost query grouped by [ServiceName, ResourceId]: these rows are the cost lines (amounts come
  from this query only, so nothing is counted twice);
- one tag query per tag key grouped by [ResourceId, TagKey=<key>]. Tags live on resources, so each
  (day, resource) has one value per key; it is joined onto the cost rows. If a resource's tag changed
  within a day, the value that carried more of that day's cost wins (ties: the smaller value).
Daily queries may span at most 31 days, so a longer window is cut into 31-day chunks.

Rows are positional: columns are looked up by name. Amounts are read from the raw JSON as Decimal.
The SDK does not follow `nextLink`: we POST the same body to it. It also does not retry a 429 that
carries only the `x-ms-ratelimit-microsoft.costmanagement-*-retry-after` headers: we do, waiting the
longest of those headers, through an injected sleep.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.rest import HttpRequest
from azure.mgmt.costmanagement import CostManagementClient
from azure.mgmt.costmanagement.models import (
    QueryAggregation,
    QueryComparisonExpression,
    QueryDataset,
    QueryDefinition,
    QueryFilter,
    QueryGrouping,
    QueryTimePeriod,
)

from aispend.connectors.base import CheckReport, ConnectorError, FatalError, FetchResult, RetryableError, Window
from aispend.connectors.cloudcommon import (
    DEFAULT_THROTTLE_RETRIES,
    CloudConnector,
    Throttled,
    day_period,
    is_loopback_url,
    max_retry_after,
    natural_key,
    split_days,
)
from aispend.connectors.normalize import attribute
from aispend.core.ai_services import AI_SERVICE_CATEGORY
from aispend.core.ledger.costlines import CostLineIn
from aispend.core.money import normalize_currency, parse_decimal
from aispend.core.rules.attribution import AttributionRules
from aispend.core.settings import Settings

SOURCE = "azure"
PROVIDER = "Microsoft"
MAX_DAYS_PER_QUERY = 31
_COST_ALIAS = "totalCost"


def _auth_fix(scope: str) -> str:
    return (
        "sign in for DefaultAzureCredential (AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, a managed "
        f"identity, or `az login`) and grant that identity Cost Management Reader on {scope}"
    )


def make_cost_client(base_url: str | None = None, credential: Any = None) -> CostManagementClient:
    """The real client on azure-identity's default chain. SDK retries are off: we own them."""
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return CostManagementClient(credential, base_url=base_url or None, retry_total=0)


@dataclass(frozen=True)
class _Page:
    columns: list[str]
    rows: list[list[Any]]
    next_link: str | None


class AzureCostConnector(CloudConnector):
    name = SOURCE

    def __init__(
        self,
        *,
        scope: str | None,
        client: CostManagementClient | None = None,
        client_factory: Callable[[], CostManagementClient] | None = None,
        base_url: str | None = None,
        cost_type: str = "ActualCost",
        cost_column: str = "PreTaxCost",
        tag_keys: Sequence[str] = ("workflow", "team"),
        service_names: Sequence[str] = (),
        resource_types: Sequence[str] = (),
        rules: AttributionRules | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_throttle_retries: int = DEFAULT_THROTTLE_RETRIES,
    ) -> None:
        super().__init__(rules=rules, sleep=sleep, max_throttle_retries=max_throttle_retries)
        self.scope = (scope or "").strip().strip("/")
        self._client = client
        self._client_factory = client_factory or (lambda: make_cost_client(base_url))
        self.base_url = base_url or "https://management.azure.com"
        self.cost_type = cost_type
        self.cost_column = cost_column
        self.tag_keys = tuple(tag_keys)
        self.service_names = tuple(service_names)
        self.resource_types = tuple(t.lower() for t in resource_types)

    @classmethod
    def settings_options(cls, settings: Settings) -> dict[str, Any]:
        return {
            "scope": settings.azure_scope,
            "base_url": settings.azure_base_url,
            "cost_type": settings.azure_cost_type,
            "cost_column": settings.azure_cost_column,
            "tag_keys": settings.azure_tag_keys,
            "service_names": settings.azure_service_names,
            "resource_types": settings.azure_resource_types,
        }

    def is_configured(self) -> bool:
        return bool(self.scope)

    @property
    def client(self) -> CostManagementClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    # --- fetch ------------------------------------------------------------------------------------

    def fetch(self, window: Window) -> FetchResult:
        self._check_ready()
        requests = 0
        lines: list[CostLineIn] = []
        for start, end in split_days(window.start, window.end, MAX_DAYS_PER_QUERY):
            cost_rows, sent = self._query_rows(start, end, [("Dimension", "ServiceName"), ("Dimension", "ResourceId")])
            requests += sent
            tags_by_resource: dict[tuple[date, str], dict[str, str]] = {}
            if cost_rows:
                for key in self.tag_keys:
                    tag_rows, sent = self._query_rows(start, end, [("Dimension", "ResourceId"), ("TagKey", key)])
                    requests += sent
                    _merge_tags(tags_by_resource, key, tag_rows, self._amount)
            lines.extend(self._line(row, tags_by_resource) for row in cost_rows)
        with_cost = [line.charge_period_start for line in lines if line.billed_cost != 0]
        return FetchResult(lines=lines, requests=requests, freshest_data_at=max(with_cost) if with_cost else None)

    def check(self, today: date) -> CheckReport:
        """Credentials and access to the scope: one small query over yesterday (one QPU)."""
        self._check_ready()
        rows, sent = self._query_rows(today - timedelta(days=1), today, [("Dimension", "ServiceName")])
        services = sorted({str(row.get("ServiceName") or "") for row in rows} - {""})
        return CheckReport(
            SOURCE,
            [
                f"Cost Management answered for {self.scope} ({sent} request(s))",
                f"AI services with cost yesterday: {', '.join(services) if services else 'none'}",
                f"cost type {self.cost_type}; tag keys: {', '.join(self.tag_keys) or 'none'}",
            ],
        )

    def _check_ready(self) -> None:
        if not self.scope:
            raise FatalError(SOURCE, "no scope configured", "set AISPEND_AZURE_SCOPE (e.g. subscriptions/<id>)")
        # Bearer tokens only travel over TLS, except to a local endpoint (tests, a local proxy).
        if self.base_url.lower().startswith("http://") and not is_loopback_url(self.base_url):
            raise FatalError(
                SOURCE,
                f"refusing to send an Azure token over plain http to {self.base_url}",
                "use an https:// AISPEND_AZURE_BASE_URL",
            )

    def _definition(self, start: date, end: date, groupings: list[tuple[str, str]]) -> QueryDefinition:
        last = end - timedelta(days=1)
        filters = []
        if self.service_names:
            filters.append(
                QueryFilter(
                    dimensions=QueryComparisonExpression(
                        name="ServiceName", operator="In", values_property=list(self.service_names)
                    )
                )
            )
        if self.resource_types:
            filters.append(
                QueryFilter(
                    dimensions=QueryComparisonExpression(
                        name="ResourceType", operator="In", values_property=list(self.resource_types)
                    )
                )
            )
        query_filter: QueryFilter | None = None
        if len(filters) == 1:
            query_filter = filters[0]
        elif filters:
            query_filter = QueryFilter(or_property=filters)
        return QueryDefinition(
            type=self.cost_type,
            timeframe="Custom",
            # Azure treats `to` as inclusive: stop at the last second of the window's last day.
            time_period=QueryTimePeriod(
                from_property=datetime(start.year, start.month, start.day, tzinfo=UTC),
                to=datetime(last.year, last.month, last.day, 23, 59, 59, tzinfo=UTC),
            ),
            dataset=QueryDataset(
                granularity="Daily",
                aggregation={_COST_ALIAS: QueryAggregation(name=self.cost_column, function="Sum")},
                grouping=[QueryGrouping(type=kind, name=name) for kind, name in groupings],
                filter=query_filter,
            ),
        )

    def _query_rows(self, start: date, end: date, groupings: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], int]:
        """All rows of one query, as dicts by column name, and how many requests it took."""
        definition = self._definition(start, end, groupings)
        sent = 0

        def count() -> None:
            nonlocal sent
            sent += 1

        page = self.retrying(lambda: self._first_page(definition), count)
        rows = _rows_by_name(page)
        while page.next_link:
            page = self.retrying(partial(self._next_page, page.next_link, definition), count)
            rows.extend(_rows_by_name(page))
        return rows, sent

    def classify(self, exc: Exception) -> ConnectorError | None:
        return classify_azure_error(exc, self.scope)

    def _first_page(self, definition: QueryDefinition) -> _Page:
        raw: Any = self.client.query.usage(
            self.scope,
            definition,
            # The raw body, so that amounts are parsed as Decimal rather than through float.
            cls=lambda pipeline_response, _deserialized, _headers: pipeline_response.http_response.text(),
            enforce_https=not is_loopback_url(self.base_url),
        )
        return _parse_page(raw)

    def _next_page(self, link: str, definition: QueryDefinition) -> _Page:
        response = self.client.send_request(
            HttpRequest("POST", link, json=definition.as_dict()), enforce_https=not is_loopback_url(link)
        )
        response.raise_for_status()
        return _parse_page(response.text())

    # --- normalization ----------------------------------------------------------------------------

    def _amount(self, row: dict[str, Any]) -> Decimal:
        for name in (_COST_ALIAS, self.cost_column, "Cost", "PreTaxCost", "CostUSD"):
            if name in row and row[name] is not None:
                return parse_decimal(str(row[name]), what=f"Azure {name}")
        raise FatalError(
            SOURCE,
            f"the query result has no cost column (columns: {sorted(row)})",
            "check AISPEND_AZURE_COST_COLUMN (PreTaxCost or Cost)",
        )

    def _line(self, row: dict[str, Any], tags_by_resource: dict[tuple[date, str], dict[str, str]]) -> CostLineIn:
        day = _usage_day(row)
        service = str(row.get("ServiceName") or "")
        resource_id = str(row.get("ResourceId") or "")
        currency = normalize_currency(row.get("Currency"))
        tags = dict(tags_by_resource.get((day, resource_id.lower()), {}))
        fields = {
            "source": SOURCE,
            "provider": PROVIDER,
            "service_name": service,
            "resource_id": resource_id,
            "sub_account": _segment_after(resource_id, "subscriptions"),
            "resource_group": _segment_after(resource_id, "resourcegroups"),
        }
        start, end = day_period(day)
        amount = self._amount(row)
        return CostLineIn(
            source=SOURCE,
            # Resource ids are case-insensitive in Azure and their casing varies between rows.
            natural_key=natural_key(day, service, resource_id.lower(), currency),
            charge_period_start=start,
            charge_period_end=end,
            billed_cost=amount,
            effective_cost=amount if self.cost_type == "AmortizedCost" else None,
            billing_currency=currency,
            provider=PROVIDER,
            service_name=service,
            service_category=AI_SERVICE_CATEGORY,
            resource_id=resource_id or None,
            tags=tags,
            is_ai=True,
            **attribute(self._rules, fields, tags),
        )


def _segment_after(resource_id: str, name: str) -> str:
    """The id segment after `name` in an ARM resource id ("" when absent), e.g. the subscription."""
    parts = resource_id.strip("/").split("/")
    for index, part in enumerate(parts[:-1]):
        if part.lower() == name:
            return parts[index + 1]
    return ""


def _parse_page(raw: str | None) -> _Page:
    if not raw:  # 204 No Content
        return _Page(columns=[], rows=[], next_link=None)
    body = json.loads(raw, parse_float=Decimal)
    properties = body.get("properties") or {}
    return _Page(
        columns=[str(column["name"]) for column in properties.get("columns") or []],
        rows=list(properties.get("rows") or []),
        next_link=properties.get("nextLink") or None,
    )


def _rows_by_name(page: _Page) -> list[dict[str, Any]]:
    return [dict(zip(page.columns, row, strict=False)) for row in page.rows]


def _usage_day(row: dict[str, Any]) -> date:
    value = row.get("UsageDate")
    text = str(value).split(".")[0] if value is not None else ""
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return date.fromisoformat(text[:10])
    except ValueError:
        raise FatalError(
            SOURCE, f"unexpected UsageDate {value!r} in a Daily query result", "report this response shape"
        ) from None


def _merge_tags(
    into: dict[tuple[date, str], dict[str, str]],
    key: str,
    rows: list[dict[str, Any]],
    amount: Callable[[dict[str, Any]], Decimal],
) -> None:
    best: dict[tuple[date, str], tuple[Decimal, str]] = {}
    for row in rows:
        value = str(row.get("TagValue") or "")
        if not value:
            continue
        ident = (_usage_day(row), str(row.get("ResourceId") or "").lower())
        cost = abs(amount(row))
        current = best.get(ident)
        if current is None or cost > current[0] or (cost == current[0] and value < current[1]):
            best[ident] = (cost, value)
    for ident, (_cost, value) in best.items():
        into.setdefault(ident, {})[key] = value


def classify_azure_error(exc: Exception, scope: str) -> ConnectorError | None:
    if isinstance(exc, ClientAuthenticationError):
        return FatalError(SOURCE, f"authentication failed: {_first_line(exc)}", _auth_fix(scope))
    if isinstance(exc, HttpResponseError):
        response: Any = exc.response
        status = int(exc.status_code or (response.status_code if response is not None else 0) or 0)
        headers = dict(response.headers) if response is not None else {}
        message = _first_line(exc)
        if status == 429:
            return Throttled(SOURCE, f"Cost Management throttled the query: {message}", max_retry_after(headers))
        if status >= 500:
            return RetryableError(SOURCE, f"Cost Management server error {status}: {message}", max_retry_after(headers))
        if status in (401, 403):
            return FatalError(SOURCE, f"access denied ({status}): {message}", _auth_fix(scope))
        if status == 404:
            return FatalError(SOURCE, f"scope not found: {message}", "check AISPEND_AZURE_SCOPE")
        return FatalError(
            SOURCE,
            f"Cost Management rejected the query ({status}): {message}",
            "check AISPEND_AZURE_SCOPE, AISPEND_AZURE_COST_COLUMN and AISPEND_AZURE_TAG_KEYS",
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return RetryableError(SOURCE, f"Cost Management unreachable or timed out: {_first_line(exc)}")
    return None


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
