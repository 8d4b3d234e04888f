"""All five sources at once, for engine-level tests and the 90-day benchmark.

Starts the local upstreams (moto's ThreadedMotoServer behind a Cost Explorer front for AWS, the
fake ARM endpoint for Azure, the fake BigQuery / Cloud Billing endpoint for GCP, the OpenAI and
Anthropic admin fakes), fills them with `days` days of data ending on `today`, and gives the
environment that points `aispend` at them. Credentials go through each client's *standard* chain:

- AWS: dummy keys in the environment; AWS_EC2_METADATA_DISABLED so that boto3 never asks the
  instance metadata address;
- Azure: DefaultAzureCredential's managed identity (App Service flavour: IDENTITY_ENDPOINT +
  IDENTITY_HEADER), served by the fake ARM endpoint;
- GCP: Application Default Credentials from a service-account file whose `token_uri` is the fake
  Google endpoint (a fresh RSA key signs the JWT assertion, as in production).

Nothing here patches aispend: connectors are built from settings by the registry.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.server import ThreadedMotoServer

from tests.cloud_fakes import (
    AzureCostRecord,
    CostExplorerFront,
    FakeCostManagement,
    FakeGoogleCloud,
    Reply,
    Request,
)
from tests.fakes.anthropic_admin import FakeAnthropicAdmin
from tests.fakes.openai_admin import FakeOpenAIAdmin

SOURCES = ("aws", "azure", "gcp", "openai", "anthropic")
AZURE_SUB = "00000000-0000-0000-0000-000000000001"
GCP_ACCOUNT = "01ABCD-234567-89EFGH"
GCP_TABLE = "billing.gcp_billing_export_v1_01ABCD_234567_89EFGH"
AWS_SERVICES = ("Amazon Bedrock", "Claude Sonnet 4.5 (Amazon Bedrock Edition)", "Amazon SageMaker")
# Variables of the credential chains a developer machine may have set; unset so that only ours apply.
_FOREIGN_CREDENTIALS = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_COST_EXPLORER",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "MSI_ENDPOINT",
    "MSI_SECRET",
)


# --- AWS: Cost Explorer answers computed from billing records, served through moto ---------------


@dataclass
class AwsCostRecord:
    day: date
    service: str
    amount: str
    tags: dict[str, str] = field(default_factory=dict)


class CostExplorerUpstream(CostExplorerFront):
    """The Cost Explorer front, answering from `records` as Cost Explorer would.

    For each GetCostAndUsage request not seen before, the answer (daily results for the request's
    period, SERVICE filter and GroupBy, `page_days` days per page linked by NextPageToken) is queued
    in moto through its static-results API; the request is then forwarded to moto, which replays it
    (and keeps replaying it for the same request). GetDimensionValues lists the services with records
    in the requested period. Call `restate()` after changing records.
    """

    def __init__(self, moto_url: str, page_days: int = 31) -> None:
        super().__init__(moto_url)
        self.moto_url = moto_url
        self.records: list[AwsCostRecord] = []
        self.page_days = page_days
        self._queued: set[bytes] = set()

    def restate(self) -> None:
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=30).raise_for_status()
        self._queued.clear()

    def serve(self, request: Request) -> Reply:
        target = request.headers.get("x-amz-target", "")
        if target.endswith(".GetDimensionValues"):
            self.dimension_values = self._services_in(request.json()["TimePeriod"])
        elif target.endswith(".GetCostAndUsage") and request.body not in self._queued:
            result = self._cost_and_usage(request.json())
            requests.post(
                f"{self.moto_url}/moto-api/static/ce/cost-and-usage-results",
                json={"results": [result]},
                timeout=30,
            ).raise_for_status()
            self._queued.add(request.body)
        return super().serve(request)

    def _services_in(self, period: dict[str, str]) -> list[str]:
        first, end = date.fromisoformat(period["Start"]), date.fromisoformat(period["End"])
        return sorted({r.service for r in self.records if first <= r.day < end})

    def _cost_and_usage(self, body: dict[str, Any]) -> dict[str, Any]:
        first = date.fromisoformat(body["TimePeriod"]["Start"])
        end = date.fromisoformat(body["TimePeriod"]["End"])
        services = set(body["Filter"]["Dimensions"]["Values"])
        page = int(str(body.get("NextPageToken") or "page-0").removeprefix("page-"))
        page_first = first + timedelta(days=page * self.page_days)
        page_end = min(end, page_first + timedelta(days=self.page_days))
        sums: dict[tuple[date, tuple[str, ...]], Decimal] = {}
        for record in self.records:
            if page_first <= record.day < page_end and record.service in services:
                keys = tuple(
                    record.service if g["Type"] == "DIMENSION" else f"{g['Key']}${record.tags.get(g['Key'], '')}"
                    for g in body["GroupBy"]
                )
                sums[(record.day, keys)] = sums.get((record.day, keys), Decimal(0)) + Decimal(record.amount)
        results = []
        day = page_first
        while day < page_end:
            groups = [
                {"Keys": list(keys), "Metrics": {m: {"Amount": str(amount), "Unit": "USD"} for m in body["Metrics"]}}
                for (group_day, keys), amount in sorted(sums.items())
                if group_day == day
            ]
            results.append(
                {
                    "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                    "Total": {},
                    "Groups": groups,
                    "Estimated": day.month == end.month and day.year == end.year,
                }
            )
            day += timedelta(days=1)
        answer: dict[str, Any] = {"ResultsByTime": results, "DimensionValueAttributes": []}
        if page_end < end:
            answer["NextPageToken"] = f"page-{page + 1}"
        return answer


# --- Azure and GCP: the fakes, plus the token endpoints their credential chains call ---------------


class ArmWithManagedIdentity(FakeCostManagement):
    """The fake ARM endpoint, also serving the App Service managed-identity token endpoint."""

    identity_header = "local-identity-secret"

    def __init__(self, page_size: int = 1000) -> None:
        super().__init__(page_size=page_size)
        self.token = "azure-local-token"  # "expired" makes ARM answer 401

    def serve(self, request: Request) -> Reply:
        if request.path == "/msi/token":
            if request.headers.get("x-identity-header") != self.identity_header:
                return Reply(401, {"error": "invalid_request", "error_description": "bad X-IDENTITY-HEADER"})
            return Reply(
                200,
                {
                    "access_token": self.token,
                    "expires_on": str(int(time.time()) + 3600),
                    "resource": request.query["resource"][0],
                    "token_type": "Bearer",
                },
            )
        return super().serve(request)


class GoogleWithTokenEndpoint(FakeGoogleCloud):
    """The fake Google endpoint, also the OAuth token endpoint of the service-account file."""

    def serve(self, request: Request) -> Reply:
        if request.path == "/token" and request.method == "POST":
            return Reply(200, {"access_token": "ya29.local", "expires_in": 3600, "token_type": "Bearer"})
        return super().serve(request)


def write_service_account(directory: Path, token_uri: str, project: str) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = directory / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": project,
                "private_key_id": "local-key",
                "private_key": pem,
                "client_email": f"aispend@{project}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return path


# --- the data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Volume:
    """Rows per day and source. `small` for tests; `BENCHMARK` for the 90-day run."""

    aws_tag_combinations: int = 2
    azure_resources: int = 2
    gcp_skus: int = 2
    gcp_label_sets: int = 1
    openai_projects: int = 1
    anthropic_workspaces: int = 1
    # Pages: Azure rows per page, BigQuery rows per page (the connector asks 10,000), CE days per page.
    azure_page_size: int = 1000
    aws_page_days: int = 31


BENCHMARK = Volume(
    aws_tag_combinations=20,
    azure_resources=40,
    gcp_skus=30,
    gcp_label_sets=4,
    openai_projects=5,
    anthropic_workspaces=4,
    aws_page_days=30,
)


def _gcp_row(day: date, sku: int, labels: int, amount: str, exported: datetime) -> dict[str, Any]:
    label_list = [{"key": "team", "value": f"team-{labels}"}, {"key": "workflow", "value": f"wf-{sku % 3}"}]
    return {
        "usage_day": day.isoformat(),
        "service_id": "C7E2-9256-1C43",
        "service_name": "Vertex AI",
        "sku_id": f"SKU-{sku}",
        "sku_description": f"Gemini 2.5 Flash SKU {sku}",
        "project_id": "support-bot",
        "region": "us-central1",
        "cost_type": "regular",
        "currency": "USD",
        "labels_json": json.dumps(label_list),
        "resource_name": "",
        "cost": amount,
        "credits": "-0.01",
        "usage_amount": "1000",
        "usage_unit": "count",
        "last_export": exported,
    }


@dataclass
class FiveSources:
    """The running upstreams. `env` points aispend (settings and credential chains) at them."""

    aws: CostExplorerUpstream
    azure: ArmWithManagedIdentity
    gcp: GoogleWithTokenEndpoint
    openai: FakeOpenAIAdmin
    anthropic: FakeAnthropicAdmin
    env: dict[str, str]

    def apply_env(self, setenv: Any) -> None:
        """Set `env` through `setenv(name, value)` (pytest's monkeypatch.setenv, or os.environ)."""
        for name, value in self.env.items():
            setenv(name, value)


def fill(sources: FiveSources, today: date, days: int, volume: Volume) -> None:
    """`days` days of data ending with `today` (inclusive) in every upstream."""
    last_export = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    for n in range(days):
        day = today - timedelta(days=n)
        for s, service in enumerate(AWS_SERVICES):
            for combo in range(volume.aws_tag_combinations):
                tags = {"workflow": f"wf-{combo % 5}", "team": f"team-{combo // 5}"}
                sources.aws.records.append(AwsCostRecord(day, service, f"{s + combo + 1}.{day.day:02d}", tags))
        for r in range(volume.azure_resources):
            sources.azure.records.append(
                AzureCostRecord(
                    day.isoformat(),
                    "Azure OpenAI",
                    f"/subscriptions/{AZURE_SUB}/resourceGroups/ai/providers/"
                    f"Microsoft.CognitiveServices/accounts/aoai-{r}",
                    f"{r + 1}.{day.day:02d}",
                    {"workflow": f"wf-{r % 7}", "team": f"team-{r % 3}"},
                )
            )
        for sku in range(volume.gcp_skus):
            for labels in range(volume.gcp_label_sets):
                sources.gcp.result_rows.append(
                    _gcp_row(day, sku, labels, f"{sku + labels + 1}.{day.day:02d}", last_export)
                )
        for p in range(volume.openai_projects):
            for item in ("gpt-4o-2024-08-06, input", "gpt-4o-2024-08-06, output", "o3, input", "o3, output"):
                sources.openai.set_cost(day, f"proj_{p}", item, str(Decimal(n * 7 + p + 1) / 100))
            for model in ("gpt-4o-2024-08-06", "o3"):
                sources.openai.set_usage(
                    day, f"proj_{p}", f"key_{p}", model, input_tokens=1000 + n, cached_tokens=100, output_tokens=50
                )
        for w in range(volume.anthropic_workspaces):
            for model in ("claude-sonnet-5", "claude-haiku-5"):
                for token_type in ("uncached_input_tokens", "output_tokens"):
                    sources.anthropic.set_cost(day, f"wrk_{w}", model, token_type, f"{n * 3 + w}.25")
                sources.anthropic.set_usage(
                    day, f"wrk_{w}", f"apikey_{w}", model, uncached_input=900 + n, output=80, cache_read=2000
                )


@contextmanager
def five_sources(today: date, days: int, volume: Volume | None = None) -> Iterator[FiveSources]:
    """Start the five upstreams with `days` days of data ending on `today`; stop them afterwards."""
    volume = volume or Volume()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        aws = CostExplorerUpstream(f"http://{host}:{port}", page_days=volume.aws_page_days).start()
        stack.callback(aws.stop)
        azure = ArmWithManagedIdentity(page_size=volume.azure_page_size).start()
        stack.callback(azure.stop)
        gcp = GoogleWithTokenEndpoint(project="billing-proj").start()
        stack.callback(gcp.stop)
        gcp.tables = {GCP_TABLE}
        gcp.billing_accounts = {
            GCP_ACCOUNT: {"name": f"billingAccounts/{GCP_ACCOUNT}", "open": True, "displayName": "Acme"}
        }
        gcp.billing_projects = {
            GCP_ACCOUNT: [
                {
                    "name": "projects/support-bot/billingInfo",
                    "projectId": "support-bot",
                    "billingAccountName": f"billingAccounts/{GCP_ACCOUNT}",
                    "billingEnabled": True,
                }
            ]
        }
        openai = FakeOpenAIAdmin()
        openai_url = stack.enter_context(openai.running())
        anthropic = FakeAnthropicAdmin()
        anthropic_url = stack.enter_context(anthropic.running())
        key_file = write_service_account(Path(tmp), f"{gcp.url}/token", "billing-proj")
        env = {
            "AWS_EC2_METADATA_DISABLED": "true",  # never ask the instance metadata address
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "IDENTITY_ENDPOINT": f"{azure.url}/msi/token",
            "IDENTITY_HEADER": ArmWithManagedIdentity.identity_header,
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
            "AISPEND_AWS_ENABLED": "true",
            "AISPEND_AWS_ENDPOINT_URL": aws.url,
            "AISPEND_AZURE_SCOPE": f"subscriptions/{AZURE_SUB}",
            "AISPEND_AZURE_BASE_URL": azure.url,
            "AISPEND_GCP_BILLING_ACCOUNT": GCP_ACCOUNT,
            "AISPEND_GCP_BILLING_DATASET": "billing-proj.billing",
            "AISPEND_GCP_BIGQUERY_URL": gcp.url,
            "AISPEND_GCP_BILLING_URL": gcp.url,
            "AISPEND_OPENAI_ADMIN_KEY": openai.admin_key,
            "AISPEND_OPENAI_BASE_URL": openai_url,
            "AISPEND_ANTHROPIC_ADMIN_KEY": anthropic.admin_key,
            "AISPEND_ANTHROPIC_BASE_URL": anthropic_url,
        }
        sources = FiveSources(aws=aws, azure=azure, gcp=gcp, openai=openai, anthropic=anthropic, env=env)
        fill(sources, today, days, volume)
        yield sources


def without_foreign_credentials(delenv: Any) -> None:
    """Unset credential variables a machine may carry (`delenv(name)`), so only the fakes' apply."""
    for name in _FOREIGN_CREDENTIALS:
        if name in os.environ:
            delenv(name)
