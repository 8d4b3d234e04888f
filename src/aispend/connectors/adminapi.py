"""What the provider admin-API connectors (OpenAI, Anthropic) share, written once.

Both read two reports per fetch: the daily cost report (bill lines) and a daily token-usage report
(usage lines). Each report is a list of pages, followed by the `next_page` cursor while `has_more`;
a page holds daily buckets of `results`. Every failure is mapped once: HTTP 429/5xx/408 become
RetryableError carrying the server's wait (throttle.py reads every provider's headers), 401/403 and
other 4xx FatalError with what to fix, an unreadable page FatalError saying which page. The sync
engine owns the retries, so that every source backs off the same way.

A subclass is a dataclass that names its provider and says how to talk to it: `_client()` opens the
HTTP client, `_get()` returns the text of one page (raising through `_status_error`), `_reports()`
says which two reports a window reads, and `_cost_line()` / `_usage_line()` read one result.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from aispend.connectors.base import Connector, ConnectorError, FatalError, FetchResult, RetryableError, Sleep, Window
from aispend.connectors.normalize import Dimensions, amount, attribute, loads_exact, parsing
from aispend.connectors.throttle import error_for_status
from aispend.core.ai_services import AI_SERVICE_CATEGORY
from aispend.core.ledger.costlines import CostLineIn
from aispend.core.ledger.usage import UsageLineIn
from aispend.core.money import MoneyError, normalize_currency
from aispend.core.rules.attribution import AttributionRules, load_rules
from aispend.core.timeutil import Clock, system_clock

if TYPE_CHECKING:
    from pydantic import SecretStr

    from aispend.core.settings import Settings

T = TypeVar("T")
Bucket = dict[str, Any]
# Buckets per page: a 31-day window (the engine's largest) fits one page of each report.
PAGE_LIMIT = 31


@dataclass(frozen=True)
class Report:
    """One report of the API: its path (named in every message about it) and its query parameters."""

    path: str
    params: Any


@dataclass
class AdminApiConnector(Connector):
    admin_key: str | None = field(repr=False)  # a secret: never in a repr, a log line or an error
    base_url: str = ""
    rules: AttributionRules = field(default_factory=AttributionRules)
    timeout: float = 60.0
    clock: Clock = system_clock
    page_limit: int = PAGE_LIMIT

    provider: ClassVar[str]  # in attribution fields and usage lines: "openai"
    provider_name: ClassVar[str]  # FOCUS ProviderName: "OpenAI"
    service_name: ClassVar[str]
    auth_fix: ClassVar[str]
    request_fix: ClassVar[str]

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Self:
        """`sleep` is unused: these connectors never wait themselves (the engine retries)."""
        key, base_url = cls._key_and_url(settings)
        return cls(
            admin_key=key.get_secret_value() if key is not None else None,
            base_url=base_url,
            rules=load_rules(settings.attribution_file),
            timeout=settings.sync_http_timeout_seconds,
            clock=clock,
        )

    @classmethod
    @abstractmethod
    def _key_and_url(cls, settings: Settings) -> tuple[SecretStr | None, str]:
        """The admin key and base URL settings of this provider."""

    def is_configured(self) -> bool:
        return bool(self.admin_key)

    # --- what a subclass says ---------------------------------------------------------------------

    @abstractmethod
    def _client(self, admin_key: str) -> AbstractContextManager[Any]: ...

    @abstractmethod
    def _get(self, client: Any, report: Report, cursor: str | None) -> str:
        """The body of one page (the first when `cursor` is None); failures raise ConnectorError."""

    @abstractmethod
    def _reports(self, window: Window) -> tuple[Report, Report]:
        """The cost report and the usage report of `window`."""

    @abstractmethod
    def _bucket_end(self, bucket: Bucket) -> datetime: ...

    @abstractmethod
    def _cost_line(self, bucket: Bucket, result: dict[str, Any]) -> CostLineIn: ...

    @abstractmethod
    def _usage_line(self, bucket: Bucket, result: dict[str, Any]) -> UsageLineIn: ...

    # --- the shared skeleton ----------------------------------------------------------------------

    def fetch(self, window: Window) -> FetchResult:
        if not self.admin_key:
            raise FatalError(self.name, "not configured", self.auth_fix)
        cost_report, usage_report = self._reports(window)
        with self._client(self.admin_key) as client:
            lines, freshest, cost_pages = self._read(client, cost_report, self._cost_line, self._bucket_end)
            usage, _, usage_pages = self._read(client, usage_report, self._usage_line)
        now = self.clock()
        return FetchResult(
            lines=lines,
            requests=cost_pages + usage_pages,
            freshest_data_at=min(freshest, now) if freshest else None,
            usage=usage,
        )

    def _read(
        self,
        client: Any,
        report: Report,
        record: Callable[[Bucket, dict[str, Any]], T],
        end_of: Callable[[Bucket], datetime] | None = None,
    ) -> tuple[list[T], datetime | None, int]:
        """Every record of `report`, the latest end of a bucket that had one (with `end_of`), and
        how many requests (pages) that took."""
        records: list[T] = []
        latest: datetime | None = None
        pages = 0
        for page in self._pages(client, report):
            pages += 1
            with parsing(self.name, f"{report.path} page {pages}", self.request_fix):
                for bucket in page["data"]:
                    found = [record(bucket, result) for result in bucket["results"]]
                    records.extend(found)
                    if found and end_of is not None:
                        end = end_of(bucket)
                        latest = end if latest is None or end > latest else latest
        return records, latest, pages

    def _pages(self, client: Any, report: Report) -> Iterator[dict[str, Any]]:
        """Each page of a report, following `next_page` while `has_more`."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            body = self._json_object(self._get(client, report, cursor), report.path)
            yield body
            cursor = body.get("next_page")
            if not body.get("has_more") or not cursor:
                return
            if cursor in seen:
                raise FatalError(
                    self.name, f"{report.path} returned the page cursor {cursor!r} twice", self.request_fix
                )
            seen.add(cursor)

    def _json_object(self, text: str, path: str) -> dict[str, Any]:
        try:
            body = loads_exact(text)
        except ValueError:
            raise RetryableError(self.name, f"{path} answered with invalid JSON") from None
        if not isinstance(body, dict):
            raise FatalError(self.name, f"{path} answered with something other than a JSON object", self.request_fix)
        return body

    def _status_error(self, status: int, headers: dict[str, str], body: str) -> ConnectorError:
        return error_for_status(
            self.name,
            status,
            headers,
            body,
            now=self.clock(),
            auth_fix=self.auth_fix,
            request_fix=self.request_fix,
        )

    def _unreachable(self, where: str, problem: object) -> RetryableError:
        """A timeout, a refused connection or a reset: worth another try."""
        return RetryableError(self.name, f"cannot reach {where}: {problem}")

    # --- building records -------------------------------------------------------------------------

    def _money(self, value: object, currency: str | None, *, what: str) -> tuple[Decimal, str]:
        try:
            return amount(value, what=what), normalize_currency(currency)
        except MoneyError as exc:
            raise FatalError(self.name, str(exc), "report this response to the aispend maintainers") from None

    def _dims(self, fields: dict[str, str]) -> Dimensions:
        return attribute(self.rules, {"source": self.name, "provider": self.provider, **fields}, {})

    def _ai_usage_line(
        self,
        day: date,
        *,
        key: str,
        model: str,
        sub_account: str,
        api_key_id: str,
        tier: str,
        fields: dict[str, str],
        **counts: int,
    ) -> UsageLineIn:
        """A token-usage record of one day; `fields` adds this provider's attribution fields."""
        dims = self._dims({"sub_account": sub_account, **fields, "api_key_id": api_key_id, "model": model})
        return UsageLineIn(
            source=self.name,
            natural_key=key,
            day=day,
            provider=self.provider,
            model=model,
            sub_account=sub_account,
            api_key_id=api_key_id,
            service_tier=tier,
            workflow=dims["workflow"],
            feature=dims["feature"],
            team=dims["team"],
            customer=dims["customer"],
            **counts,
        )

    def _ai_cost_line(
        self,
        bucket: tuple[datetime, datetime],
        *,
        key: str,
        value: Decimal,
        currency: str,
        model: str,
        dims: Dimensions,
        **extra: Any,
    ) -> CostLineIn:
        """A line of the provider's AI bill: billed = effective cost, usage charges, one day."""
        start, end = bucket
        return CostLineIn(
            source=self.name,
            natural_key=key,
            charge_period_start=start,
            charge_period_end=end,
            billed_cost=value,
            effective_cost=value,
            billing_currency=currency,
            provider=self.provider_name,
            service_name=self.service_name,
            service_category=AI_SERVICE_CATEGORY,
            charge_category="Usage",
            is_ai=True,
            model=model,
            **dims,
            **extra,
        )
