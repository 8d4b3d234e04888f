"""Azure Cost Management connector: the real azure-mgmt-costmanagement client against a fake ARM endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from sqlalchemy import Engine, select

from aispend.connectors.azure import AzureCostConnector, make_cost_client
from aispend.connectors.base import FatalError, RetryableError, Window
from aispend.connectors.cloudcommon import Throttled
from aispend.core.ledger.costlines import upsert_cost_lines
from aispend.core.ledger.models import CostLine
from aispend.core.rules.attribution import parse_rules
from aispend.core.settings import load_settings
from tests.cloud_fakes import AzureCostRecord, FakeCostManagement, Reply, azure_throttle

SUB = "00000000-0000-0000-0000-000000000001"
SCOPE = f"subscriptions/{SUB}"
AOAI = f"/subscriptions/{SUB}/resourceGroups/ai/providers/Microsoft.CognitiveServices/accounts/aoai-prod"
AML = f"/subscriptions/{SUB}/resourceGroups/ml/providers/Microsoft.MachineLearningServices/workspaces/train"
VM = f"/subscriptions/{SUB}/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/web1"
WINDOW = Window(date(2026, 11, 1), date(2026, 11, 3))
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


class StaticCredential:
    """A TokenCredential that hands out a fixed token (azure-identity is not exercised here)."""

    def __init__(self, token: str = "fake-token") -> None:
        self.token = token

    def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture
def arm() -> Iterator[FakeCostManagement]:
    server = FakeCostManagement(page_size=2).start()
    server.records = [
        AzureCostRecord("2026-11-01", "Azure OpenAI", AOAI, "1.25", {"workflow": "triage", "team": "support"}),
        AzureCostRecord("2026-11-01", "Azure OpenAI", AOAI, "0.50", {"workflow": "triage", "team": "support"}),
        AzureCostRecord("2026-11-01", "Azure Machine Learning", AML, "3.000000001", {"team": "ml"}),
        AzureCostRecord("2026-11-02", "Azure OpenAI", AOAI, "2.10", {"workflow": "triage", "team": "support"}),
        AzureCostRecord("2026-11-02", "Virtual Machines", VM, "99", {"team": "web"}),
        AzureCostRecord("2026-11-03", "Azure OpenAI", AOAI, "7", {}),  # outside the window
    ]
    yield server
    server.stop()


def connector(
    arm: FakeCostManagement, sleeps: list[float] | None = None, token: str = "fake-token", **options: Any
) -> AzureCostConnector:
    settings = load_settings(azure_scope=SCOPE, azure_base_url=arm.url)
    recorded = sleeps if sleeps is not None else []
    return AzureCostConnector.from_settings(
        settings,
        client_factory=lambda: make_cost_client(arm.url, credential=StaticCredential(token)),
        sleep=recorded.append,
        **options,
    )


def test_pages_groupings_and_tag_join(arm: FakeCostManagement) -> None:
    result = connector(arm).fetch(WINDOW)

    queries = arm.queries()
    bodies = [q.json() for q in queries]
    assert all(len(b["dataset"]["grouping"]) <= 2 for b in bodies)
    groupings = [[g["name"] for g in b["dataset"]["grouping"]] for b in bodies]
    # Cost query (2 pages of 2 rows + 1), then one tag query per key (pages of 2 as well).
    assert groupings[0] == ["ServiceName", "ResourceId"]
    assert ["ResourceId", "workflow"] in groupings and ["ResourceId", "team"] in groupings
    assert result.requests == len(queries)
    assert any("$skiptoken" in q.query for q in queries)
    # The nextLink pages carry the same body as the first request.
    first, *rest = [q for q in queries if q.json()["dataset"]["grouping"] == bodies[0]["dataset"]["grouping"]]
    assert rest and all(q.json() == first.json() for q in rest)
    assert bodies[0]["type"] == "ActualCost" and bodies[0]["dataset"]["granularity"] == "Daily"
    assert bodies[0]["timePeriod"]["from"].startswith("2026-11-01T00:00:00")
    assert bodies[0]["timePeriod"]["to"].startswith("2026-11-02T23:59:59")

    lines = sorted(result.lines, key=lambda line: (line.charge_period_start, line.service_name))
    assert [(line.charge_period_start.day, line.service_name, line.billed_cost) for line in lines] == [
        (1, "Azure Machine Learning", Decimal("3.000000001")),
        (1, "Azure OpenAI", Decimal("1.75")),
        (2, "Azure OpenAI", Decimal("2.1")),
    ]
    aml, aoai_1, aoai_2 = lines
    assert aoai_1.resource_id == AOAI and aoai_1.tags == {"workflow": "triage", "team": "support"}
    assert (aoai_1.workflow, aoai_1.team) == ("triage", "support")
    assert aml.tags == {"team": "ml"} and aml.team == "ml" and aml.workflow == ""
    assert all(line.billing_currency == "USD" and line.is_ai for line in lines)
    assert aoai_1.natural_key != aoai_2.natural_key
    assert result.freshest_data_at == datetime(2026, 11, 2, tzinfo=UTC)


def test_rules_can_match_subscription_and_resource_group(arm: FakeCostManagement) -> None:
    rules = parse_rules(
        {"rules": [{"match": {"resource_group": "ml", "sub_account": SUB}, "set": {"team": "research"}}]}
    )
    lines = connector(arm, rules=rules, tag_keys=[]).fetch(WINDOW).lines
    assert sorted((line.service_name, line.team) for line in lines) == [
        ("Azure Machine Learning", "research"),
        ("Azure OpenAI", ""),
        ("Azure OpenAI", ""),
    ]


def test_empty_window(arm: FakeCostManagement) -> None:
    result = connector(arm).fetch(Window(date(2026, 10, 1), date(2026, 10, 3)))
    assert result.lines == []
    assert result.requests == 1  # no cost rows: the tag queries are skipped


def test_long_window_is_cut_into_31_day_queries(arm: FakeCostManagement) -> None:
    connector(arm, tag_keys=[]).fetch(Window(date(2026, 8, 1), date(2026, 11, 3)))
    periods = [(q.json()["timePeriod"]["from"][:10], q.json()["timePeriod"]["to"][:10]) for q in arm.queries()]
    distinct = sorted(set(periods))
    assert distinct[0] == ("2026-08-01", "2026-08-31") and distinct[-1][1] == "2026-11-02"
    assert len(distinct) == 4


def test_throttle_waits_the_longest_costmanagement_header(arm: FakeCostManagement) -> None:
    arm.fail_next(azure_throttle({"qpu": "5", "entity": "9"}))
    sleeps: list[float] = []
    result = connector(arm, sleeps).fetch(WINDOW)
    assert sleeps == [9.0]
    assert len(result.lines) == 3


def test_throttle_on_a_next_page_is_retried_too(arm: FakeCostManagement) -> None:
    arm.fail_next(azure_throttle({"tenant": "3"}), when=lambda r: "$skiptoken" in r.query)
    sleeps: list[float] = []
    result = connector(arm, sleeps).fetch(WINDOW)
    assert sleeps == [3.0] and len(result.lines) == 3


def test_persistent_throttle_is_retryable_with_retry_after(arm: FakeCostManagement) -> None:
    arm.fail_next(azure_throttle({"qpu": "4"}), times=10)
    sleeps: list[float] = []
    with pytest.raises(Throttled) as raised:
        connector(arm, sleeps).fetch(WINDOW)
    assert raised.value.retry_after == 4.0 and sleeps == [4.0, 4.0, 4.0]


def test_server_error_is_retryable(arm: FakeCostManagement) -> None:
    arm.fail_next(Reply(503, {"error": {"code": "ServiceUnavailable", "message": "later"}}), times=10)
    sleeps: list[float] = []
    with pytest.raises(RetryableError) as raised:
        connector(arm, sleeps).fetch(WINDOW)
    assert not isinstance(raised.value, Throttled) and sleeps == []
    assert str(raised.value).startswith("azure: ")


def test_expired_token_is_fatal_with_the_fix(arm: FakeCostManagement) -> None:
    with pytest.raises(FatalError) as raised:
        connector(arm, token="expired").fetch(WINDOW)
    assert "Cost Management Reader" in raised.value.fix and SCOPE in raised.value.fix


def test_forbidden_is_fatal(arm: FakeCostManagement) -> None:
    arm.fail_next(Reply(403, {"error": {"code": "AuthorizationFailed", "message": "no access"}}))
    with pytest.raises(FatalError, match="403"):
        connector(arm).fetch(WINDOW)


def test_restated_day_updates_the_ledger_row(arm: FakeCostManagement, engine: Engine) -> None:
    azure = connector(arm, tag_keys=[])
    window = Window(date(2026, 11, 2), date(2026, 11, 3))
    pull_one = azure.fetch(window)
    arm.records[3] = AzureCostRecord("2026-11-02", "Azure OpenAI", AOAI.upper(), "2.60")  # casing drifts too
    pull_two = azure.fetch(window)
    assert [line.natural_key for line in pull_one.lines] == [line.natural_key for line in pull_two.lines]
    outcomes = []
    for pull in (pull_one, pull_two, pull_two):
        with engine.begin() as conn:
            outcomes.append(
                upsert_cost_lines(conn, pull.lines, now=NOW, replace_window=("azure", window.start, window.end))
            )
    assert (outcomes[1].updated, outcomes[1].inserted) == (1, 0)  # restated: the same row changes
    assert (outcomes[2].unchanged, outcomes[2].updated, outcomes[2].inserted) == (1, 0, 0)  # re-run: nothing
    with engine.connect() as conn:
        rows = conn.execute(select(CostLine.__table__)).all()  # type: ignore[attr-defined]
    assert [row.billed_cost for row in rows] == [Decimal("2.6")]


def test_plain_http_to_a_remote_host_is_refused() -> None:
    settings = load_settings(azure_scope=SCOPE, azure_base_url="http://cost.example.com")
    azure = AzureCostConnector.from_settings(settings, client_factory=lambda: pytest.fail("no client expected"))
    with pytest.raises(FatalError, match="plain http"):
        azure.fetch(WINDOW)


def test_configured_only_with_a_scope() -> None:
    assert not AzureCostConnector.from_settings(load_settings(azure_scope=None)).is_configured()
    assert AzureCostConnector.from_settings(load_settings(azure_scope=SCOPE)).is_configured()


def test_check_queries_yesterday(arm: FakeCostManagement) -> None:
    report = connector(arm).check(today=date(2026, 11, 2))
    assert report.source == "azure" and SCOPE in report.details[0]
    assert "Azure Machine Learning, Azure OpenAI" in report.details[1]
    (query,) = arm.queries()
    assert query.json()["timePeriod"]["from"].startswith("2026-11-01")


def test_check_surfaces_auth_failure(arm: FakeCostManagement) -> None:
    with pytest.raises(FatalError, match="authentication"):
        connector(arm, token="expired").check(today=date(2026, 11, 2))
