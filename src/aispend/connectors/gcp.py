"""GCP connector: Vertex AI / Gemini cost lines from the Cloud Billing export to BigQuery.

Cost line items exist only in the billing export (the Cloud Billing API has no cost data), so one
fetch runs one BigQuery query over the standard (`gcp_billing_export_v1_<ACCOUNT>`) or detailed
(`gcp_billing_export_resource_v1_<ACCOUNT>`) table: rows of the configured services whose usage
started in the window, net of credits (`cost + SUM(credits.amount)`), grouped by UTC day, service,
SKU, project, region, cost type, currency, labels (and resource on the detailed table).

- Labels are grouped by their canonical JSON (sorted), then become the line's tags.
- Amounts are summed as NUMERIC in SQL and arrive as Decimal: never through float.
- `_PARTITIONTIME` (export time) is bounded below by the window start minus a day — rows are
  exported after the usage they describe — so the scan skips older partitions while late rows and
  credits for the window are still found. `maximum_bytes_billed` caps what a query may cost.
- `check()` uses google-cloud-billing to confirm the billing account and list its projects, and
  BigQuery to confirm the export table exists, with a message saying how to enable it when it does not.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date
from decimal import Decimal
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth import exceptions as auth_exceptions
from google.cloud import bigquery

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
from aispend.core.money import ZERO, normalize_currency
from aispend.core.rules.attribution import AttributionRules
from aispend.core.settings import Settings
from aispend.core.timeutil import start_of_day

SOURCE = "gcp"
PROVIDER = "Google Cloud"
PAGE_SIZE = 10_000
_TABLE_ID = re.compile(r"^[A-Za-z0-9_\-:.]+$")
_CHARGE_CATEGORY = {
    "regular": "Usage",
    "tax": "Tax",
    "adjustment": "Adjustment",
    "rounding error": "Adjustment",
}
_AUTH_FIX = (
    "give the Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, a workload identity, or "
    "`gcloud auth application-default login`) roles/bigquery.dataViewer on the billing export dataset and "
    "roles/bigquery.jobUser on the project that runs the query (AISPEND_GCP_PROJECT)"
)


def export_table_name(billing_account: str, export: str) -> str:
    account = billing_account.strip().replace("-", "_")
    kind = "resource_v1" if export == "detailed" else "v1"
    return f"gcp_billing_export_{kind}_{account}"


def make_bigquery_client(project: str | None, endpoint: str | None = None, credentials: Any = None) -> Any:
    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    return bigquery.Client(project=project, credentials=credentials, client_options=options)


def make_billing_client(endpoint: str | None = None, credentials: Any = None) -> Any:
    # REST transport: one wire format for production and the local test endpoint.
    from google.cloud import billing_v1

    options = {"api_endpoint": endpoint} if endpoint else None
    return billing_v1.CloudBillingClient(credentials=credentials, transport="rest", client_options=options)


@dataclass
class GcpCheck(CheckReport):
    billing_account: str = ""
    display_name: str = ""
    projects: list[str] = field(default_factory=list)
    table_id: str = ""


class GcpBillingExportConnector(CloudConnector):
    name = SOURCE

    def __init__(
        self,
        *,
        billing_account: str | None,
        dataset: str | None,
        export: str = "standard",
        table: str | None = None,
        project: str | None = None,
        services: Sequence[str] = ("Vertex AI", "Gemini API"),
        max_bytes_billed: int = 10 * 2**30,
        rules: AttributionRules | None = None,
        bigquery_factory: Callable[[str | None], Any] | None = None,
        billing_factory: Callable[[], Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_throttle_retries: int = DEFAULT_THROTTLE_RETRIES,
        page_size: int = PAGE_SIZE,
    ) -> None:
        super().__init__(rules=rules, sleep=sleep, max_throttle_retries=max_throttle_retries)
        self.page_size = page_size
        self.billing_account = (billing_account or "").strip()
        self.dataset = (dataset or "").strip()
        self.export = export
        self._table = (table or "").strip()
        self.project = project or (self.dataset.split(".")[0] if "." in self.dataset else None)
        self.services = tuple(services)
        self.max_bytes_billed = max_bytes_billed
        self._bigquery_factory = bigquery_factory or (lambda project: make_bigquery_client(project))
        self._billing_factory = billing_factory or make_billing_client
        self._bigquery: Any = None

    @classmethod
    def settings_options(cls, settings: Settings) -> dict[str, Any]:
        bigquery_url, billing_url = settings.gcp_bigquery_url, settings.gcp_billing_url
        return {
            "billing_account": settings.gcp_billing_account,
            "dataset": settings.gcp_billing_dataset,
            "export": settings.gcp_export_table,
            "table": settings.gcp_billing_table,
            "project": settings.gcp_project,
            "services": settings.gcp_services,
            "max_bytes_billed": settings.gcp_max_bytes_billed,
            "bigquery_factory": lambda project: make_bigquery_client(project, bigquery_url),
            "billing_factory": lambda: make_billing_client(billing_url),
        }

    def is_configured(self) -> bool:
        return bool(self._table or (self.billing_account and self.dataset))

    @property
    def table_id(self) -> str:
        table = self._table or f"{self.dataset}.{export_table_name(self.billing_account, self.export)}"
        if not _TABLE_ID.match(table) or table.count(".") != 2:
            raise FatalError(
                SOURCE,
                f"not a BigQuery table id: {table!r}",
                "set AISPEND_GCP_BILLING_DATASET=<project>.<dataset> (or AISPEND_GCP_BILLING_TABLE="
                "<project>.<dataset>.<table>)",
            )
        return table

    @property
    def bigquery(self) -> Any:
        if self._bigquery is None:
            self._bigquery = self._bigquery_factory(self.project)
        return self._bigquery

    # --- fetch ------------------------------------------------------------------------------------

    def fetch(self, window: Window) -> FetchResult:
        if not self.is_configured():
            raise FatalError(
                SOURCE,
                "no billing export configured",
                "set AISPEND_GCP_BILLING_ACCOUNT and AISPEND_GCP_BILLING_DATASET",
            )
        sql = self.sql()
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("start", "TIMESTAMP", start_of_day(window.start)),
                bigquery.ScalarQueryParameter("end", "TIMESTAMP", start_of_day(window.end)),
                bigquery.ArrayQueryParameter("services", "STRING", list(self.services)),
            ],
            maximum_bytes_billed=self.max_bytes_billed,
        )
        requests = 0

        def count() -> None:
            nonlocal requests
            requests += 1

        def run() -> list[Any]:
            nonlocal requests
            rows: list[Any] = []
            # Client retries off (retry/job_retry None): throttles are retried here with our sleep,
            # the rest by the sync engine.
            iterator = self.bigquery.query_and_wait(
                sql, job_config=config, page_size=self.page_size, retry=None, job_retry=None, api_timeout=120
            )
            for index, page in enumerate(iterator.pages):
                if index:
                    requests += 1  # each further page is one more getQueryResults call
                rows.extend(page)
            return rows

        rows = self.retrying(run, on_attempt=count)
        lines = [self._line(row) for row in rows]
        exports = [row["last_export"] for row in rows if row["last_export"] is not None]
        return FetchResult(
            lines=lines,
            requests=requests,
            freshest_data_at=max(exports).astimezone(UTC) if exports else None,
            notes=[f"query of {self.table_id}, at most {self.max_bytes_billed} bytes billed"],
        )

    def classify(self, exc: Exception) -> ConnectorError | None:
        return classify_gcp_error(exc, self.table_id)

    def sql(self) -> str:
        detailed = self.export == "detailed" or "resource_v1" in self.table_id
        resource = "IFNULL(resource.global_name, '')" if detailed else "''"
        return f"""
SELECT
  DATE(usage_start_time) AS usage_day,
  service.id AS service_id,
  ANY_VALUE(service.description) AS service_name,
  sku.id AS sku_id,
  ANY_VALUE(sku.description) AS sku_description,
  IFNULL(project.id, '') AS project_id,
  IFNULL(location.region, '') AS region,
  IFNULL(cost_type, 'regular') AS cost_type,
  currency,
  TO_JSON_STRING(ARRAY(SELECT AS STRUCT l.key, l.value FROM UNNEST(labels) AS l ORDER BY l.key, l.value))
    AS labels_json,
  {resource} AS resource_name,
  SUM(CAST(cost AS NUMERIC)) AS cost,
  SUM(IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) AS c), 0)) AS credits,
  SUM(CAST(usage.amount_in_pricing_units AS NUMERIC)) AS usage_amount,
  ANY_VALUE(usage.pricing_unit) AS usage_unit,
  MAX(export_time) AS last_export
FROM `{self.table_id}`
WHERE _PARTITIONTIME >= TIMESTAMP_SUB(@start, INTERVAL 1 DAY)
  AND usage_start_time >= @start AND usage_start_time < @end
  AND service.description IN UNNEST(@services)
GROUP BY usage_day, service_id, sku_id, project_id, region, cost_type, currency, labels_json, resource_name
ORDER BY usage_day, service_id, sku_id, project_id, region, cost_type, currency, labels_json, resource_name
""".strip()

    def _line(self, row: Any) -> CostLineIn:
        day: date = row["usage_day"]
        labels = {str(item["key"]): str(item["value"]) for item in json.loads(row["labels_json"] or "[]")}
        cost = Decimal(row["cost"] or ZERO)
        credits = Decimal(row["credits"] or ZERO)
        service = str(row["service_name"] or "")
        project_id = str(row["project_id"] or "")
        resource = str(row["resource_name"] or "")
        sku_id = str(row["sku_id"] or "")
        region = str(row["region"] or "")
        fields = {
            "source": SOURCE,
            "provider": PROVIDER,
            "service_name": service,
            "sub_account": project_id,
            "project_id": project_id,
            "sku_id": sku_id,
            "sku_description": str(row["sku_description"] or ""),
            "resource_id": resource,
        }
        start, end = day_period(day)
        identity = [row["service_id"], sku_id, project_id, region, row["cost_type"], row["currency"]]
        return CostLineIn(
            source=SOURCE,
            natural_key=natural_key(day, *identity, row["labels_json"] or "[]", resource),
            charge_period_start=start,
            charge_period_end=end,
            billed_cost=cost + credits,
            billing_currency=normalize_currency(row["currency"]),
            provider=PROVIDER,
            service_name=service,
            service_category=AI_SERVICE_CATEGORY,
            charge_category=_CHARGE_CATEGORY.get(str(row["cost_type"]), "Usage"),
            resource_id=resource or None,
            sku_id=sku_id or None,
            region=region or None,
            consumed_quantity=Decimal(row["usage_amount"]) if row["usage_amount"] is not None else None,
            consumed_unit=row["usage_unit"] or None,
            tags=labels,
            is_ai=True,
            **attribute(self._rules, fields, labels),
        )

    # --- check ------------------------------------------------------------------------------------

    def check(self, today: date) -> GcpCheck:
        """Billing account reachable, its projects, and the export table present — or say how to fix it.

        No bill is read, so `today` does not matter: the billing account and the table have no day.
        """
        if not self.billing_account:
            raise FatalError(SOURCE, "no billing account configured", "set AISPEND_GCP_BILLING_ACCOUNT")
        name = f"billingAccounts/{self.billing_account}"
        billing = self._billing_factory()
        try:
            account = billing.get_billing_account(name=name)
            projects = sorted(
                info.project_id for info in billing.list_project_billing_info(name=name) if info.billing_enabled
            )
        except gexc.Unauthorized as exc:
            raise FatalError(SOURCE, f"Cloud Billing API refused the credentials: {exc.message}", _AUTH_FIX) from exc
        except gexc.Forbidden as exc:
            raise FatalError(
                SOURCE,
                f"Cloud Billing API denied access to {name}: {exc.message}",
                f"grant the credentials roles/billing.viewer on billing account {self.billing_account}",
            ) from exc
        except Exception as exc:
            raise _check_error(exc, "Cloud Billing API", name) from exc
        table_id = self.table_id
        try:
            self.bigquery.get_table(table_id)
        except gexc.NotFound:
            raise FatalError(SOURCE, self._missing_export_message(table_id), self._enable_export_fix()) from None
        except Exception as exc:
            raise _check_error(exc, "BigQuery", table_id) from exc
        details = [
            f"billing account {name} ({account.display_name}) is {'open' if account.open_ else 'CLOSED'}",
            f"projects billed to it: {', '.join(projects) if projects else 'none'}",
            f"billing export table {table_id} exists",
        ]
        return GcpCheck(
            source=SOURCE,
            details=details,
            billing_account=self.billing_account,
            display_name=account.display_name,
            projects=projects,
            table_id=table_id,
        )

    def _missing_export_message(self, table_id: str) -> str:
        project_dataset = table_id.rsplit(".", 1)[0]
        message = f"the Cloud Billing export table {table_id} does not exist"
        try:
            present = [t.table_id for t in self.bigquery.list_tables(project_dataset) if "billing_export" in t.table_id]
        except gexc.GoogleAPICallError:
            return message + f" (and dataset {project_dataset} could not be listed)"
        if present:
            return message + f"; dataset {project_dataset} has: {', '.join(sorted(present))}"
        return message + f"; dataset {project_dataset} has no billing export table yet"

    def _enable_export_fix(self) -> str:
        kind = "Detailed usage cost" if self.export == "detailed" else "Standard usage cost"
        dataset = self.dataset or "(AISPEND_GCP_BILLING_DATASET)"
        return (
            f"in the Google Cloud console, Billing > Billing export > BigQuery export, enable '{kind}' "
            f"for billing account {self.billing_account} into dataset {dataset} (the table appears "
            "within hours); or point AISPEND_GCP_EXPORT_TABLE / AISPEND_GCP_BILLING_TABLE at the table "
            "that exists"
        )


def _check_error(exc: Exception, api: str, what: str) -> ConnectorError:
    error = classify_gcp_error(exc, what)
    if error is None:
        return RetryableError(SOURCE, f"{api} check of {what} failed: {exc}")
    return error


def classify_gcp_error(exc: Exception, table_id: str) -> ConnectorError | None:
    if isinstance(exc, auth_exceptions.DefaultCredentialsError | auth_exceptions.RefreshError):
        return FatalError(SOURCE, f"no usable Google credentials ({exc})", _AUTH_FIX)
    if isinstance(exc, gexc.GoogleAPICallError):
        reasons = {str(e.get("reason", "")) for e in (exc.errors or []) if isinstance(e, dict)}
        response = getattr(exc, "response", None)
        headers = dict(getattr(response, "headers", {}) or {})
        retry_after = max_retry_after(headers)
        message = getattr(exc, "message", None) or str(exc)
        status = int(exc.code or 0)
        if status == 429 or reasons & {"rateLimitExceeded"}:
            return Throttled(SOURCE, f"BigQuery rate limit: {message}", retry_after)
        if status >= 500 or reasons & {"backendError", "internalError"}:
            return RetryableError(SOURCE, f"BigQuery server error {status}: {message}", retry_after)
        if status == 401:
            return FatalError(SOURCE, f"BigQuery refused the credentials: {message}", _AUTH_FIX)
        if status == 403:
            return FatalError(SOURCE, f"BigQuery access denied ({', '.join(sorted(reasons))}): {message}", _AUTH_FIX)
        if status == 404:
            return FatalError(
                SOURCE,
                f"{table_id} not found: {message}",
                "enable the Cloud Billing export to BigQuery and check AISPEND_GCP_BILLING_DATASET "
                "(run the connector's check for details)",
            )
        if reasons & {"bytesBilledLimitExceeded"}:
            return FatalError(SOURCE, f"query would scan too much: {message}", "raise AISPEND_GCP_MAX_BYTES_BILLED")
        return FatalError(
            SOURCE,
            f"BigQuery rejected the query ({status}): {message}",
            "check AISPEND_GCP_BILLING_TABLE / AISPEND_GCP_EXPORT_TABLE",
        )
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ConnectionError):
        return RetryableError(SOURCE, f"BigQuery unreachable or timed out: {exc}")
    return None
