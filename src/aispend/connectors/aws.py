"""AWS Cost Explorer connector: daily AI-service cost by service and cost-allocation tags.

Billed requests are the design constraint: every Cost Explorer request (each page too) costs $0.01.
One fetch makes:

1. one `GetDimensionValues` per search string (default: "Bedrock") to discover the SERVICE names
   under which Bedrock spend appears (Marketplace-billed models get their own names); the exact
   names in AISPEND_AWS_SERVICES (SageMaker, Amazon Q...) are added without a lookup;
2. the cost queries. Cost Explorer allows only two GroupBy entries, so:
   - with 0 or 1 tag key: ONE query grouped by [SERVICE, TAG key], filtered to all AI services;
   - with 2 tag keys: one query PER SERVICE grouped by [TAG a, TAG b] and filtered to that service.
     Grouping [SERVICE, TAG a] and [SERVICE, TAG b] in two queries would be cheaper but cannot be
     joined (nobody knows which team's share of a workflow), so amounts would be guessed; one query
     per service keeps every line exact. Services discovered with no spend cost nothing.
   Each query follows NextPageToken; each page is one more request.

Every request sent (throttled attempts included) is counted in FetchResult.requests.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from aispend.connectors.base import CheckReport, ConnectorError, FatalError, FetchResult, RetryableError, Window
from aispend.connectors.cloudcommon import (
    DEFAULT_THROTTLE_RETRIES,
    CloudConnector,
    Throttled,
    day_period,
    max_retry_after,
    natural_key,
)
from aispend.connectors.normalize import attribute
from aispend.core.ai_services import AI_SERVICE_CATEGORY
from aispend.core.ledger.costlines import CostLineIn
from aispend.core.money import normalize_currency, parse_decimal
from aispend.core.rules.attribution import AttributionRules
from aispend.core.settings import Settings

SOURCE = "aws"
PROVIDER = "AWS"
# Requested alongside the configured metric at no extra cost: fills effective_cost.
AMORTIZED = "AmortizedCost"

_THROTTLE_CODES = {"LimitExceededException", "ThrottlingException", "Throttling", "TooManyRequestsException"}
_AUTH_CODES = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "ExpiredToken",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "AuthFailure",
}
# Worth a fresh pull rather than a config change.
_TRANSIENT_CODES = {"RequestChangedException", "InvalidNextTokenException", "DataUnavailableException"}
_AUTH_FIX = (
    "give the credentials boto3 finds (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an instance "
    "or task role) the IAM actions ce:GetCostAndUsage and ce:GetDimensionValues; Cost Explorer must be "
    "enabled in the account"
)
_MARKETPLACE_SUFFIX = re.compile(r"\s*\(Amazon Bedrock Edition\)\s*$", re.IGNORECASE)


def make_ce_client(region: str = "us-east-1", endpoint_url: str | None = None) -> Any:
    """A Cost Explorer client on boto3's standard credential chain.

    boto3 itself honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_COST_EXPLORER; `endpoint_url`
    (AISPEND_AWS_ENDPOINT_URL) wins over both. botocore's own retries are off: throttles are retried
    here with an injected sleep, everything else by the sync engine.
    """
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    # A session of its own: boto3's default session caches credentials process-wide.
    session = boto3.session.Session()
    return session.client("ce", region_name=region, endpoint_url=endpoint_url or None, config=config)


class AwsCostExplorerConnector(CloudConnector):
    name = SOURCE
    # The sync engine cuts windows into chunks of this many days (default 31). Every chunk repeats
    # the discovery and per-service queries, each billed, while Cost Explorer pages a long answer
    # itself: one chunk covers the default 90-day backfill and a month-close re-pull.
    max_window_days = 93

    def __init__(
        self,
        *,
        client: Any | None = None,
        client_factory: Callable[[], Any] | None = None,
        enabled: bool = True,
        metric: str = "UnblendedCost",
        tag_keys: Sequence[str] = ("workflow", "team"),
        service_search: Sequence[str] = ("Bedrock",),
        services: Sequence[str] = ("Amazon SageMaker", "Amazon Q"),
        rules: AttributionRules | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_throttle_retries: int = DEFAULT_THROTTLE_RETRIES,
    ) -> None:
        if len(tag_keys) > 2:
            raise ValueError("Cost Explorer groups by at most 2 tag keys")
        super().__init__(rules=rules, sleep=sleep, max_throttle_retries=max_throttle_retries)
        self._client = client
        self._client_factory = client_factory or make_ce_client
        self._enabled = enabled
        self.metric = metric
        self.tag_keys = tuple(tag_keys)
        self.service_search = tuple(service_search)
        self.services = tuple(services)

    @classmethod
    def settings_options(cls, settings: Settings) -> dict[str, Any]:
        region, endpoint = settings.aws_region, settings.aws_endpoint_url
        return {
            "client_factory": lambda: make_ce_client(region, endpoint),
            "enabled": settings.aws_enabled,
            "metric": settings.aws_cost_metric,
            "tag_keys": settings.aws_tag_keys,
            "service_search": settings.aws_service_search,
            "services": settings.aws_services,
        }

    def is_configured(self) -> bool:
        return self._enabled

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    # --- fetch ------------------------------------------------------------------------------------

    def fetch(self, window: Window) -> FetchResult:
        counter = _Counter()
        services = self.discover_services(window, counter)
        lines: list[CostLineIn] = []
        if services:
            if len(self.tag_keys) < 2:
                group_by = [{"Type": "DIMENSION", "Key": "SERVICE"}] + [
                    {"Type": "TAG", "Key": key} for key in self.tag_keys
                ]
                for result in self._cost_pages(window, group_by, services, counter):
                    lines.extend(self._lines(result, service=None))
            else:
                group_by = [{"Type": "TAG", "Key": key} for key in self.tag_keys]
                for service in services:
                    for result in self._cost_pages(window, group_by, [service], counter):
                        lines.extend(self._lines(result, service=service))
        days_with_cost = [line.charge_period_start for line in lines if line.billed_cost != 0]
        notes = [f"{counter.count} billed Cost Explorer request(s) (${Decimal(counter.count) / 100})"]
        if not services:
            notes.append("no AI service had cost in the window")
        return FetchResult(
            lines=lines,
            requests=counter.count,
            freshest_data_at=max(days_with_cost) if days_with_cost else None,
            notes=notes,
        )

    def check(self, today: date) -> CheckReport:
        """Credentials and Cost Explorer access, through the discovery call over yesterday.

        Costs one billed request per search string ($0.01 each).
        """
        counter = _Counter()
        services = self.discover_services(Window(today - timedelta(days=1), today), counter)
        return CheckReport(
            SOURCE,
            [
                f"Cost Explorer answered ({counter.count} billed request(s))",
                f"AI services queried: {', '.join(services) if services else 'none with cost yesterday'}",
                f"metric {self.metric}; tag keys: {', '.join(self.tag_keys) or 'none'}",
            ],
        )

    def discover_services(self, window: Window, counter: _Counter | None = None) -> list[str]:
        """AI SERVICE names: those matching each search string in the window, plus the configured ones."""
        counter = counter or _Counter()
        found: list[str] = []
        for search in self.service_search:
            token: str | None = None
            while True:
                params: dict[str, Any] = {
                    "TimePeriod": _period(window),
                    "Dimension": "SERVICE",
                    "Context": "COST_AND_USAGE",
                    "SearchString": search,
                }
                if token:
                    params["NextPageToken"] = token
                page = self._call(self.client.get_dimension_values, params, counter)
                found.extend(item["Value"] for item in page.get("DimensionValues", []) if item.get("Value"))
                token = page.get("NextPageToken")
                if not token:
                    break
        return sorted(set(found) | set(self.services))

    def _cost_pages(
        self, window: Window, group_by: list[dict[str, str]], services: list[str], counter: _Counter
    ) -> list[dict[str, Any]]:
        metrics = [self.metric] if self.metric == AMORTIZED else [self.metric, AMORTIZED]
        params: dict[str, Any] = {
            "TimePeriod": _period(window),
            "Granularity": "DAILY",
            "Metrics": metrics,
            "GroupBy": group_by,
            "Filter": {"Dimensions": {"Key": "SERVICE", "Values": services, "MatchOptions": ["EQUALS"]}},
        }
        results: list[dict[str, Any]] = []
        while True:
            page = self._call(self.client.get_cost_and_usage, params, counter)
            results.extend(page.get("ResultsByTime", []))
            token = page.get("NextPageToken")
            if not token:
                return results
            params = {**params, "NextPageToken": token}

    def _call(self, method: Callable[..., dict[str, Any]], params: dict[str, Any], counter: _Counter) -> Any:
        return self.retrying(lambda: method(**params), on_attempt=counter.bump)

    def classify(self, exc: Exception) -> ConnectorError | None:
        return classify_aws_error(exc)

    # --- normalization ----------------------------------------------------------------------------

    def _lines(self, result: dict[str, Any], service: str | None) -> list[CostLineIn]:
        day = date.fromisoformat(result["TimePeriod"]["Start"])
        start, end = day_period(day)
        estimated = bool(result.get("Estimated", False))
        lines = []
        for group in result.get("Groups", []):
            keys = list(group.get("Keys", []))
            group_service = service if service is not None else keys.pop(0)
            tag_values = [_tag_value(key, raw) for key, raw in zip(self.tag_keys, keys, strict=False)]
            tags = {key: value for key, value in zip(self.tag_keys, tag_values, strict=False) if value}
            metric = group.get("Metrics", {}).get(self.metric)
            if metric is None:
                raise FatalError(
                    SOURCE,
                    f"Cost Explorer returned no {self.metric} for {group_service} on {day}",
                    "check AISPEND_AWS_COST_METRIC",
                )
            amount = parse_decimal(metric["Amount"], what=f"AWS {self.metric} for {group_service} on {day}")
            amortized = group["Metrics"].get(AMORTIZED)
            identity = [group_service] + [f"{k}={v}" for k, v in zip(self.tag_keys, tag_values, strict=False)]
            fields = {"source": SOURCE, "provider": PROVIDER, "service_name": group_service}
            dims = attribute(self._rules, fields, tags)
            lines.append(
                CostLineIn(
                    source=SOURCE,
                    natural_key=natural_key(day, *identity),
                    charge_period_start=start,
                    charge_period_end=end,
                    billed_cost=amount,
                    effective_cost=parse_decimal(amortized["Amount"]) if amortized else None,
                    billing_currency=normalize_currency(metric.get("Unit")),
                    provider=PROVIDER,
                    service_name=group_service,
                    service_category=AI_SERVICE_CATEGORY,
                    tags=tags,
                    is_ai=True,
                    model=_model_from_service(group_service),
                    estimated=estimated,
                    **dims,
                )
            )
        return lines


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def bump(self) -> None:
        self.count += 1


def _period(window: Window) -> dict[str, str]:
    return {"Start": window.start.isoformat(), "End": window.end.isoformat()}


def _tag_value(key: str, raw: str) -> str:
    """CE answers TAG groups as "key$value" ("key$" when untagged)."""
    prefix = f"{key}$"
    if raw.startswith(prefix):
        return raw[len(prefix) :]
    return raw.split("$", 1)[1] if "$" in raw else raw


def _model_from_service(service: str) -> str:
    """Marketplace-billed Bedrock models carry the model in the service name."""
    if _MARKETPLACE_SUFFIX.search(service):
        return _MARKETPLACE_SUFFIX.sub("", service)
    return ""


def classify_aws_error(exc: Exception) -> ConnectorError | None:
    """Map a botocore exception to retryable / fatal; None when it is not a client failure."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return FatalError(SOURCE, f"no usable AWS credentials ({exc})", _AUTH_FIX)
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | EndpointConnectionError | ConnectionClosedError):
        return RetryableError(SOURCE, f"Cost Explorer unreachable or timed out: {exc}")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or str(exc)
        meta = exc.response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 0)
        retry_after = max_retry_after(meta.get("HTTPHeaders", {}) or {})
        if code in _THROTTLE_CODES or status == 429:
            return Throttled(SOURCE, f"Cost Explorer throttled the request ({code}): {message}", retry_after)
        if status >= 500:
            return RetryableError(SOURCE, f"Cost Explorer server error {status} ({code}): {message}", retry_after)
        if code in _AUTH_CODES or status in (401, 403):
            return FatalError(SOURCE, f"Cost Explorer refused the credentials ({code}): {message}", _AUTH_FIX)
        if code in _TRANSIENT_CODES:
            return RetryableError(SOURCE, f"Cost Explorer asked to start over ({code}): {message}", retry_after)
        if code == "BillExpirationException":
            return FatalError(
                SOURCE,
                f"the window reaches past Cost Explorer's history ({message})",
                "backfill at most 13 months plus the current month",
            )
        return FatalError(
            SOURCE,
            f"Cost Explorer rejected the request ({code or status}): {message}",
            "check AISPEND_AWS_COST_METRIC, AISPEND_AWS_TAG_KEYS and AISPEND_AWS_SERVICES",
        )
    if isinstance(exc, BotoCoreError):
        return RetryableError(SOURCE, f"AWS client error: {exc}")
    return None
