"""GCP connector: real google-cloud-bigquery and google-cloud-billing against a local REST endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from sqlalchemy import Engine, select

from aispend.connectors.base import FatalError, RetryableError, Window
from aispend.connectors.cloudcommon import Throttled
from aispend.connectors.gcp import GcpBillingExportConnector, make_bigquery_client, make_billing_client
from aispend.core.ledger.costlines import upsert_cost_lines
from aispend.core.ledger.models import CostLine
from aispend.core.rules.attribution import parse_rules
from aispend.core.settings import load_settings
from tests.cloud_fakes import FakeGoogleCloud, google_error

ACCOUNT = "01ABCD-234567-89EFGH"
TABLE = "billing.gcp_billing_export_v1_01ABCD_234567_89EFGH"
WINDOW = Window(date(2026, 11, 1), date(2026, 11, 3))
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
EXPORTED = datetime(2026, 11, 2, 18, 30, tzinfo=UTC)


def row(
    day: str, sku: str, cost: str, credits: str = "0", labels: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    base = {
        "usage_day": day,
        "service_id": "C7E2-9256-1C43",
        "service_name": "Vertex AI",
        "sku_id": sku,
        "sku_description": f"Gemini 2.5 Flash {sku}",
        "project_id": "support-bot",
        "region": "us-central1",
        "cost_type": "regular",
        "currency": "USD",
        "labels_json": json.dumps([{"key": k, "value": v} for k, v in sorted((labels or {}).items())]),
        "resource_name": "",
        "cost": cost,
        "credits": credits,
        "usage_amount": "1000",
        "usage_unit": "count",
        "last_export": EXPORTED,
    }
    base.update(extra)
    return base


@pytest.fixture
def google() -> Iterator[FakeGoogleCloud]:
    server = FakeGoogleCloud().start()
    server.result_rows = [
        row("2026-11-01", "SKU-IN", "12.500000001", "-2.5", {"workflow": "triage", "team": "support"}),
        row("2026-11-01", "SKU-OUT", "3.25", labels={"team": "support"}),
        row("2026-11-02", "SKU-IN", "1.10", cost_type="tax"),
        row("2026-11-03", "SKU-IN", "9"),  # outside the window
    ]
    server.tables = {TABLE}
    server.billing_accounts = {ACCOUNT: {"name": f"billingAccounts/{ACCOUNT}", "open": True, "displayName": "Acme"}}
    server.billing_projects = {
        ACCOUNT: [
            {
                "name": "projects/support-bot/billingInfo",
                "projectId": "support-bot",
                "billingAccountName": f"billingAccounts/{ACCOUNT}",
                "billingEnabled": True,
            },
            {
                "name": "projects/old/billingInfo",
                "projectId": "old",
                "billingAccountName": f"billingAccounts/{ACCOUNT}",
                "billingEnabled": False,
            },
        ]
    }
    yield server
    server.stop()


def connector(
    google: FakeGoogleCloud, sleeps: list[float] | None = None, page_size: int = 1000, **settings: Any
) -> GcpBillingExportConnector:
    options = {"gcp_billing_account": ACCOUNT, "gcp_billing_dataset": "billing-proj.billing", **settings}
    recorded = sleeps if sleeps is not None else []
    return GcpBillingExportConnector.from_settings(
        load_settings(**options),
        bigquery_factory=lambda project: make_bigquery_client(project, google.url, AnonymousCredentials()),
        billing_factory=lambda: make_billing_client(google.url, AnonymousCredentials()),
        sleep=recorded.append,
        page_size=page_size,
    )


def test_query_pages_and_lines(google: FakeGoogleCloud) -> None:
    result = connector(google, page_size=2).fetch(WINDOW)  # 3 rows: two pages

    (post,) = google.query_posts()
    body = post.json()
    assert post.path == "/bigquery/v2/projects/billing-proj/queries"
    assert "`billing-proj.billing.gcp_billing_export_v1_01ABCD_234567_89EFGH`" in body["query"]
    assert "UNNEST(credits)" in body["query"] and "_PARTITIONTIME" in body["query"]
    assert body["maximumBytesBilled"] == str(10 * 2**30)
    params = {p["name"]: p for p in body["queryParameters"]}
    assert [v["value"] for v in params["services"]["parameterValue"]["arrayValues"]] == [
        "Vertex AI",
        "Gemini API",
    ]
    assert any("pageToken" in r.query for r in google.requests)
    assert result.requests == 2

    lines = sorted(result.lines, key=lambda line: (line.charge_period_start, line.sku_id or ""))
    assert [(line.charge_period_start.day, line.sku_id, line.billed_cost) for line in lines] == [
        (1, "SKU-IN", Decimal("10.000000001")),  # net of the -2.5 credit
        (1, "SKU-OUT", Decimal("3.25")),
        (2, "SKU-IN", Decimal("1.10")),
    ]
    first = lines[0]
    assert first.tags == {"team": "support", "workflow": "triage"}
    assert (first.workflow, first.team) == ("triage", "support")
    assert first.provider == "Google Cloud" and first.service_name == "Vertex AI" and first.is_ai
    assert first.region == "us-central1" and first.consumed_quantity == Decimal("1000")
    assert lines[2].charge_category == "Tax"
    assert len({line.natural_key for line in lines}) == 3
    assert result.freshest_data_at == EXPORTED


def test_attribution_rules_can_match_project_and_sku(google: FakeGoogleCloud) -> None:
    rules = parse_rules(
        {
            "rules": [
                {"match": {"project_id": "support-bot"}, "set": {"customer": "acme"}},
                {"match": {"sku_description": "Gemini 2.5 Flash SKU-OUT"}, "set": {"feature": "answers"}},
            ]
        }
    )
    gcp = GcpBillingExportConnector.from_settings(
        load_settings(gcp_billing_account=ACCOUNT, gcp_billing_dataset="billing-proj.billing"),
        bigquery_factory=lambda project: make_bigquery_client(project, google.url, AnonymousCredentials()),
        rules=rules,
    )
    lines = gcp.fetch(WINDOW).lines
    assert {line.customer for line in lines} == {"acme"}
    assert sorted(line.feature for line in lines) == ["", "", "answers"]


def test_detailed_export_table_and_override(google: FakeGoogleCloud) -> None:
    detailed = connector(google, gcp_export_table="detailed")
    assert detailed.table_id == "billing-proj.billing.gcp_billing_export_resource_v1_01ABCD_234567_89EFGH"
    assert "resource.global_name" in detailed.sql()
    custom = connector(google, gcp_billing_table="p.d.focus_view")
    assert custom.table_id == "p.d.focus_view"
    with pytest.raises(FatalError, match="not a BigQuery table id"):
        _ = connector(google, gcp_billing_table="p.d.t` OR 1=1 --").table_id


def test_empty_window(google: FakeGoogleCloud) -> None:
    result = connector(google).fetch(Window(date(2026, 10, 1), date(2026, 10, 5)))
    assert result.lines == [] and result.freshest_data_at is None


def test_rate_limit_then_success(google: FakeGoogleCloud) -> None:
    google.fail_next(google_error(429, "rateLimitExceeded", "Exceeded rate limits", {"Retry-After": "6"}))
    sleeps: list[float] = []
    result = connector(google, sleeps).fetch(WINDOW)
    assert sleeps == [6.0] and len(result.lines) == 3
    assert result.requests == 2  # the throttled query and its retry


def test_persistent_rate_limit_is_retryable(google: FakeGoogleCloud) -> None:
    google.fail_next(google_error(403, "rateLimitExceeded", "Exceeded rate limits"), times=10)
    sleeps: list[float] = []
    with pytest.raises(Throttled):
        connector(google, sleeps).fetch(WINDOW)
    assert sleeps == [1.0, 2.0, 4.0]  # no server hint: our own backoff


def test_server_error_is_retryable(google: FakeGoogleCloud) -> None:
    google.fail_next(google_error(503, "backendError", "Backend error"), times=10)
    with pytest.raises(RetryableError) as raised:
        connector(google).fetch(WINDOW)
    assert not isinstance(raised.value, Throttled) and str(raised.value).startswith("gcp: ")


def test_auth_failure_is_fatal_with_the_fix(google: FakeGoogleCloud) -> None:
    google.fail_next(google_error(401, "authError", "Request had invalid authentication credentials."))
    with pytest.raises(FatalError) as raised:
        connector(google).fetch(WINDOW)
    assert "roles/bigquery.dataViewer" in raised.value.fix


def test_access_denied_is_fatal(google: FakeGoogleCloud) -> None:
    google.fail_next(google_error(403, "accessDenied", "Access Denied: Table billing-proj:billing"))
    with pytest.raises(FatalError, match="accessDenied"):
        connector(google).fetch(WINDOW)


def test_restated_day_updates_the_ledger_row(google: FakeGoogleCloud, engine: Engine) -> None:
    gcp = connector(google)
    window = Window(date(2026, 11, 2), date(2026, 11, 3))
    pull_one = gcp.fetch(window)
    google.result_rows[2] = row("2026-11-02", "SKU-IN", "1.10", "-0.40", cost_type="tax")  # a late credit
    pull_two = gcp.fetch(window)
    assert [line.natural_key for line in pull_one.lines] == [line.natural_key for line in pull_two.lines]
    outcomes = []
    for pull in (pull_one, pull_two, pull_two):
        with engine.begin() as conn:
            outcomes.append(
                upsert_cost_lines(conn, pull.lines, now=NOW, replace_window=("gcp", window.start, window.end))
            )
    assert (outcomes[1].updated, outcomes[1].inserted) == (1, 0)  # restated: the same row changes
    assert (outcomes[2].unchanged, outcomes[2].updated, outcomes[2].inserted) == (1, 0, 0)  # re-run: nothing
    with engine.connect() as conn:
        rows = conn.execute(select(CostLine.__table__)).all()  # type: ignore[attr-defined]
    assert [row.billed_cost for row in rows] == [Decimal("0.7")]


def test_check_lists_projects_and_finds_the_export(google: FakeGoogleCloud) -> None:
    check = connector(google).check(NOW.date())
    assert check.projects == ["support-bot"] and check.display_name == "Acme"
    assert check.table_id == f"billing-proj.{TABLE}"
    assert check.source == "gcp" and "(Acme) is open" in check.details[0] and "exists" in check.details[2]


def test_check_explains_a_missing_export(google: FakeGoogleCloud) -> None:
    google.tables = {"billing.gcp_billing_export_resource_v1_01ABCD_234567_89EFGH"}
    with pytest.raises(FatalError) as raised:
        connector(google).check(NOW.date())
    message = str(raised.value)
    assert "gcp_billing_export_v1_01ABCD_234567_89EFGH does not exist" in message
    assert "gcp_billing_export_resource_v1_01ABCD_234567_89EFGH" in message  # what is there instead
    assert "Billing export" in raised.value.fix and ACCOUNT in raised.value.fix


def test_check_reports_billing_account_access(google: FakeGoogleCloud) -> None:
    google.billing_accounts = {}
    with pytest.raises(FatalError, match="permission") as raised:
        connector(google).check(NOW.date())
    assert "roles/billing.viewer" in raised.value.fix


def test_configured_with_account_and_dataset() -> None:
    assert not GcpBillingExportConnector.from_settings(load_settings()).is_configured()
    configured = load_settings(gcp_billing_account=ACCOUNT, gcp_billing_dataset="p.billing")
    assert GcpBillingExportConnector.from_settings(configured).is_configured()
