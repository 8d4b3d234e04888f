"""`aispend connectors check` for the cloud sources: configured, unconfigured, authentication failures.

The real connectors' `check()` runs against the local upstreams of tests/five_sources.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from aispend.cli.main import app
from aispend.cli.runtime import Runtime
from aispend.core.settings import load_settings
from tests.cloud_fakes import ce_error
from tests.five_sources import AZURE_SUB, GCP_ACCOUNT, GCP_TABLE, FiveSources, five_sources, without_foreign_credentials
from tests.sync_helpers import NOW, FakeTime, cost_rows, fixed_clock

CLOUD = ("aws", "azure", "gcp")


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[FiveSources]:
    with five_sources(NOW.date(), 3) as sources:
        without_foreign_credentials(monkeypatch.delenv)
        sources.apply_env(monkeypatch.setenv)
        monkeypatch.setenv("AISPEND_DATABASE_URL", database_url)
        yield sources


def pinned() -> Runtime:
    """The command's clock is the upstreams' day: the check must not read the wall clock."""
    return Runtime(settings=load_settings(), clock=fixed_clock(), sleep=FakeTime().sleep)


def check(*sources: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = CliRunner().invoke(app, ["connectors", "check", *sources, "--json"], obj=pinned())
    return result.exit_code, {entry["source"]: entry for entry in json.loads(result.stdout)}


def test_configured_cloud_sources_authenticate_and_say_what_they_found(engine: Engine, upstream: FiveSources) -> None:
    code, checks = check(*CLOUD)

    assert code == 0, checks
    assert all(checks[s]["configured"] and checks[s]["authenticated"] is True for s in CLOUD), checks
    assert all(checks[s]["check_error"] is None for s in CLOUD)
    assert checks["aws"]["details"] == [
        "Cost Explorer answered (1 billed request(s))",
        "AI services queried: Amazon Bedrock, Amazon Q, Amazon SageMaker, Claude Sonnet 4.5 (Amazon Bedrock Edition)",
        "metric UnblendedCost; tag keys: workflow, team",
    ]
    assert checks["azure"]["details"][:2] == [
        f"Cost Management answered for subscriptions/{AZURE_SUB} (1 request(s))",
        "AI services with cost yesterday: Azure OpenAI",
    ]
    assert checks["gcp"]["details"] == [
        f"billing account billingAccounts/{GCP_ACCOUNT} (Acme) is open",
        "projects billed to it: support-bot",
        f"billing export table billing-proj.{GCP_TABLE} exists",
    ]
    # One billed discovery request for AWS, and nothing written to the ledger.
    assert len([r for r in upstream.aws.requests if "x-amz-target" in r.headers]) == 1
    assert cost_rows(engine) == []


def test_check_table_shows_the_findings(engine: Engine, upstream: FiveSources) -> None:
    result = CliRunner().invoke(app, ["connectors", "check", "aws", "gcp"], env={"COLUMNS": "250"}, obj=pinned())
    assert result.exit_code == 0, result.output
    assert "Cost Explorer answered (1 billed request(s))" in result.output
    assert "projects billed to it: support-bot" in result.output


def test_unconfigured_cloud_sources_are_reported_and_not_called(
    engine: Engine, upstream: FiveSources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISPEND_AWS_ENABLED", "false")  # AWS is opt-in: requests are billed
    for name in ("AISPEND_AZURE_SCOPE", "AISPEND_GCP_BILLING_ACCOUNT"):
        monkeypatch.setenv(name, "")  # empty means unset

    code, checks = check(*CLOUD)

    assert code == 0
    for source in CLOUD:
        assert checks[source]["configured"] is False
        assert checks[source]["authenticated"] is None and checks[source]["details"] == []
    assert upstream.aws.requests == upstream.azure.requests == upstream.gcp.requests == []


def test_authentication_failures_name_the_source_and_the_fix(engine: Engine, upstream: FiveSources) -> None:
    upstream.aws.fail_next(
        ce_error(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
    )
    upstream.azure.token = "expired"  # the managed identity hands out a token ARM refuses
    upstream.gcp.billing_accounts = {}  # the credentials may not read the billing account: 403

    code, checks = check(*CLOUD, "openai")

    assert code == 1
    assert all(checks[s]["configured"] and checks[s]["authenticated"] is False for s in CLOUD)
    assert checks["openai"]["authenticated"] is True  # one source failing does not hide the others
    aws, azure, gcp = (checks[s]["check_error"] for s in CLOUD)
    assert aws.startswith("aws: Cost Explorer refused the credentials (UnrecognizedClientException)")
    assert "ce:GetDimensionValues" in aws
    assert azure.startswith("azure: ") and f"Cost Management Reader on subscriptions/{AZURE_SUB}" in azure
    assert gcp.startswith(f"gcp: Cloud Billing API denied access to billingAccounts/{GCP_ACCOUNT}")
    assert "roles/billing.viewer" in gcp


def test_missing_gcp_export_says_how_to_enable_it(engine: Engine, upstream: FiveSources) -> None:
    upstream.gcp.tables = {"billing.gcp_billing_export_resource_v1_01ABCD_234567_89EFGH"}

    code, checks = check("gcp")

    assert code == 1 and checks["gcp"]["authenticated"] is False
    error = checks["gcp"]["check_error"]
    assert f"the Cloud Billing export table billing-proj.{GCP_TABLE} does not exist" in error
    assert "gcp_billing_export_resource_v1_01ABCD_234567_89EFGH" in error  # what the dataset does have
    assert "Billing export > BigQuery export" in error


def test_throttled_check_cannot_tell(engine: Engine, upstream: FiveSources) -> None:
    """A throttle that outlasts the connector's in-place retries says nothing about the credentials."""
    upstream.aws.fail_next(ce_error(400, "LimitExceededException", "Rate exceeded", {"Retry-After": "0"}), times=4)

    code, checks = check("aws")

    assert code == 3  # not "all fine": the source could not be checked
    assert checks["aws"]["authenticated"] is None
    assert checks["aws"]["check_error"].startswith("could not tell (retryable): aws: Cost Explorer throttled")
