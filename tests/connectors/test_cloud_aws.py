"""AWS Cost Explorer connector: real boto3 against moto's server (behind a small CE front on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from moto.server import ThreadedMotoServer
from sqlalchemy import Engine, select

from aispend.connectors.aws import AwsCostExplorerConnector, make_ce_client
from aispend.connectors.base import FatalError, RetryableError, Window
from aispend.connectors.cloudcommon import Throttled
from aispend.core.ledger.costlines import upsert_cost_lines
from aispend.core.ledger.models import CostLine
from aispend.core.rules.attribution import parse_rules
from aispend.core.settings import load_settings
from tests.cloud_fakes import CostExplorerFront, ce_error

WINDOW = Window(date(2026, 11, 1), date(2026, 11, 3))
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
BEDROCK = "Amazon Bedrock"
CLAUDE = "Claude Sonnet 4.5 (Amazon Bedrock Edition)"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def front(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CostExplorerFront]:
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_COST_EXPLORER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance metadata service
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    server = CostExplorerFront(moto_url).start()
    server.dimension_values = [BEDROCK, CLAUDE, "Amazon Elastic Compute Cloud - Compute"]
    yield server
    server.stop()


def queue(moto_url: str, *results: dict[str, Any]) -> None:
    """Queue GetCostAndUsage answers in moto: each new request body pops the next one."""
    response = requests.post(
        f"{moto_url}/moto-api/static/ce/cost-and-usage-results", json={"results": list(results)}, timeout=10
    )
    assert response.status_code == 201


def day_result(day: str, groups: list[tuple[list[str], str]], estimated: bool = False) -> dict[str, Any]:
    end = {"2026-11-01": "2026-11-02", "2026-11-02": "2026-11-03"}[day]
    return {
        "TimePeriod": {"Start": day, "End": end},
        "Total": {},
        "Groups": [
            {
                "Keys": keys,
                "Metrics": {
                    "UnblendedCost": {"Amount": amount, "Unit": "USD"},
                    "AmortizedCost": {"Amount": amount, "Unit": "USD"},
                },
            }
            for keys, amount in groups
        ],
        "Estimated": estimated,
    }


def connector(front: CostExplorerFront, sleeps: list[float] | None = None, **options: Any) -> AwsCostExplorerConnector:
    settings = load_settings(aws_enabled=True, aws_endpoint_url=front.url, aws_services=[])
    recorded = sleeps if sleeps is not None else []
    return AwsCostExplorerConnector.from_settings(settings, sleep=recorded.append, **options)


def test_two_tag_keys_query_each_service_and_follow_pages(front: CostExplorerFront, moto_url: str) -> None:
    queue(
        moto_url,
        # Amazon Bedrock, page 1 then page 2 (the follow-up body carries the token).
        {
            **{"ResultsByTime": [day_result("2026-11-01", [(["workflow$triage", "team$support"], "1.10")])]},
            "NextPageToken": "tok-1",
        },
        {
            "ResultsByTime": [
                day_result(
                    "2026-11-02",
                    [(["workflow$triage", "team$support"], "2.205"), (["workflow$", "team$"], "0.3")],
                    estimated=True,
                )
            ]
        },
        # The Marketplace-billed Claude service.
        {"ResultsByTime": [day_result("2026-11-01", [(["workflow$search", "team$ml"], "4.000000001")])]},
    )
    result = connector(front).fetch(WINDOW)

    # 1 discovery + 2 pages for Bedrock + 1 for Claude: every billed request is counted.
    assert result.requests == 4
    assert len(front.targets("GetDimensionValues")) == 1
    assert front.targets("GetDimensionValues")[0].json()["SearchString"] == "Bedrock"
    bodies = [r.json() for r in front.targets("GetCostAndUsage")]
    assert [b["Filter"]["Dimensions"]["Values"] for b in bodies] == [[BEDROCK], [BEDROCK], [CLAUDE]]
    assert all(b["GroupBy"] == [{"Type": "TAG", "Key": "workflow"}, {"Type": "TAG", "Key": "team"}] for b in bodies)
    assert bodies[1]["NextPageToken"] == "tok-1"
    assert all(b["Granularity"] == "DAILY" and b["Metrics"][0] == "UnblendedCost" for b in bodies)

    by_amount = {line.billed_cost: line for line in result.lines}
    assert set(by_amount) == {Decimal("1.10"), Decimal("2.205"), Decimal("0.3"), Decimal("4.000000001")}
    triage = by_amount[Decimal("1.10")]
    assert triage.service_name == BEDROCK
    assert triage.tags == {"workflow": "triage", "team": "support"}
    assert (triage.workflow, triage.team) == ("triage", "support")
    assert triage.charge_period_start == datetime(2026, 11, 1, tzinfo=UTC)
    assert triage.billing_currency == "USD" and triage.is_ai and not triage.estimated
    assert by_amount[Decimal("2.205")].estimated
    assert by_amount[Decimal("0.3")].tags == {} and by_amount[Decimal("0.3")].workflow == ""
    claude = by_amount[Decimal("4.000000001")]
    assert claude.model == "Claude Sonnet 4.5" and claude.team == "ml"
    assert len({line.natural_key for line in result.lines}) == 4
    assert result.freshest_data_at == datetime(2026, 11, 2, tzinfo=UTC)


def test_one_tag_key_groups_by_service_in_a_single_query(front: CostExplorerFront, moto_url: str) -> None:
    queue(
        moto_url,
        {"ResultsByTime": [day_result("2026-11-01", [([BEDROCK, "team$ml"], "5"), ([CLAUDE, "team$"], "1")])]},
    )
    settings = load_settings(
        aws_enabled=True, aws_endpoint_url=front.url, aws_tag_keys=["team"], aws_services=["Amazon SageMaker"]
    )
    result = AwsCostExplorerConnector.from_settings(settings, sleep=lambda _s: None).fetch(WINDOW)

    assert result.requests == 2
    (body,) = [r.json() for r in front.targets("GetCostAndUsage")]
    assert body["GroupBy"] == [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": "team"}]
    assert body["Filter"]["Dimensions"]["Values"] == sorted([BEDROCK, CLAUDE, "Amazon SageMaker"])
    assert sorted((line.service_name, line.team, line.billed_cost) for line in result.lines) == [
        (BEDROCK, "ml", Decimal("5")),
        (CLAUDE, "", Decimal("1")),
    ]


def test_empty_window_costs_one_request(front: CostExplorerFront) -> None:
    front.dimension_values = ["Amazon Elastic Compute Cloud - Compute"]
    result = connector(front).fetch(WINDOW)
    assert result.lines == [] and result.requests == 1
    assert front.targets("GetCostAndUsage") == []


def test_services_with_no_results_give_no_lines(front: CostExplorerFront) -> None:
    result = connector(front, tag_keys=["team"]).fetch(WINDOW)  # moto's queue is empty: no ResultsByTime
    assert result.lines == [] and result.requests == 2


def test_throttle_is_retried_after_the_servers_wait(front: CostExplorerFront, moto_url: str) -> None:
    queue(moto_url, {"ResultsByTime": [day_result("2026-11-01", [([BEDROCK, "team$ml"], "5")])]})
    front.fail_next(
        ce_error(400, "LimitExceededException", "Rate exceeded", {"Retry-After": "7"}),
        when=lambda r: r.headers.get("x-amz-target", "").endswith("GetCostAndUsage"),
    )
    sleeps: list[float] = []
    result = connector(front, sleeps, tag_keys=["team"]).fetch(WINDOW)
    assert sleeps == [7.0]
    assert [line.billed_cost for line in result.lines] == [Decimal("5")]
    assert result.requests == 3  # discovery + throttled attempt + retry


def test_throttle_that_persists_becomes_retryable_with_retry_after(front: CostExplorerFront) -> None:
    front.fail_next(ce_error(400, "LimitExceededException", "Rate exceeded", {"Retry-After": "2"}), times=10)
    sleeps: list[float] = []
    with pytest.raises(Throttled) as raised:
        connector(front, sleeps).fetch(WINDOW)
    assert sleeps == [2.0, 2.0, 2.0]
    assert isinstance(raised.value, RetryableError) and raised.value.retry_after == 2.0
    assert raised.value.source == "aws"


def test_server_error_is_retryable_and_not_slept_on(front: CostExplorerFront) -> None:
    front.fail_next(ce_error(503, "ServiceUnavailableException", "try later"), times=10)
    sleeps: list[float] = []
    with pytest.raises(RetryableError) as raised:
        connector(front, sleeps).fetch(WINDOW)
    assert not isinstance(raised.value, Throttled) and sleeps == []
    assert "503" in str(raised.value)


def test_bad_credentials_are_fatal_with_the_fix(front: CostExplorerFront) -> None:
    front.fail_next(ce_error(400, "UnrecognizedClientException", "The security token included is invalid."))
    with pytest.raises(FatalError) as raised:
        connector(front).fetch(WINDOW)
    assert str(raised.value).startswith("aws: ")
    assert "ce:GetCostAndUsage" in raised.value.fix


def test_access_denied_is_fatal(front: CostExplorerFront) -> None:
    front.fail_next(ce_error(400, "AccessDeniedException", "not authorized to perform ce:GetDimensionValues"))
    with pytest.raises(FatalError, match="AccessDeniedException"):
        connector(front).fetch(WINDOW)


def test_restated_day_updates_the_ledger_row(front: CostExplorerFront, moto_url: str, engine: Engine) -> None:
    first = {"ResultsByTime": [day_result("2026-11-01", [([BEDROCK, "team$ml"], "5.00")], estimated=True)]}
    restated = {"ResultsByTime": [day_result("2026-11-01", [([BEDROCK, "team$ml"], "5.75")])]}
    aws = connector(front, tag_keys=["team"])
    queue(moto_url, first)
    pull_one = aws.fetch(WINDOW)
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()  # forget the memoized body
    queue(moto_url, restated)
    pull_two = aws.fetch(WINDOW)
    assert [line.natural_key for line in pull_one.lines] == [line.natural_key for line in pull_two.lines]

    outcomes = []
    for pull in (pull_one, pull_two, pull_two):
        with engine.begin() as conn:
            outcomes.append(
                upsert_cost_lines(conn, pull.lines, now=NOW, replace_window=("aws", WINDOW.start, WINDOW.end))
            )
    assert (outcomes[1].updated, outcomes[1].inserted) == (1, 0)  # restated: the same row changes
    assert (outcomes[2].unchanged, outcomes[2].updated, outcomes[2].inserted) == (1, 0, 0)  # re-run: nothing
    with engine.connect() as conn:
        rows = conn.execute(select(CostLine.__table__)).all()  # type: ignore[attr-defined]
    assert len(rows) == 1
    assert rows[0].billed_cost == Decimal("5.75") and rows[0].estimated is False


def test_standard_endpoint_env_var_is_honoured(front: CostExplorerFront, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", front.url)
    client = make_ce_client()
    client.get_dimension_values(TimePeriod={"Start": "2026-11-01", "End": "2026-11-02"}, Dimension="SERVICE")
    assert len(front.targets("GetDimensionValues")) == 1


def test_generic_endpoint_env_var_is_honoured(front: CostExplorerFront, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
    settings = load_settings(aws_enabled=True, aws_services=[])
    result = AwsCostExplorerConnector.from_settings(settings, sleep=lambda _s: None).fetch(WINDOW)
    assert result.requests == 3 and len(front.targets("GetDimensionValues")) == 1


def test_missing_credentials_are_fatal(front: CostExplorerFront, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    for name in (
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(FatalError) as raised:
        connector(front).fetch(WINDOW)
    assert "no usable AWS credentials" in str(raised.value) and "AWS_PROFILE" in raised.value.fix
    assert front.requests == []


def test_aispend_endpoint_setting_wins_over_env(front: CostExplorerFront, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    result = connector(front).fetch(WINDOW)
    assert result.requests >= 1 and front.targets("GetDimensionValues")


def test_attribution_rules_apply(front: CostExplorerFront, moto_url: str) -> None:
    queue(moto_url, {"ResultsByTime": [day_result("2026-11-01", [([BEDROCK, "team$"], "3")])]})
    rules = parse_rules({"rules": [{"match": {"service_name": BEDROCK}, "set": {"team": "platform"}}]})
    result = connector(front, tag_keys=["team"], rules=rules).fetch(WINDOW)
    assert [line.team for line in result.lines] == ["platform"]


def test_not_configured_unless_enabled() -> None:
    assert not AwsCostExplorerConnector.from_settings(load_settings(aws_enabled=False)).is_configured()
    assert AwsCostExplorerConnector.from_settings(load_settings(aws_enabled=True)).is_configured()


def test_check_discovers_services_for_one_billed_request(front: CostExplorerFront) -> None:
    report = connector(front).check(today=date(2026, 11, 26))
    assert report.source == "aws" and "1 billed request" in report.details[0]
    assert CLAUDE in report.details[1]
    (request,) = front.targets("GetDimensionValues")
    assert request.json()["TimePeriod"] == {"Start": "2026-11-25", "End": "2026-11-26"}


def test_check_surfaces_auth_failure(front: CostExplorerFront) -> None:
    front.fail_next(ce_error(400, "UnrecognizedClientException", "The security token included is invalid."))
    with pytest.raises(FatalError):
        connector(front).check(today=date(2026, 11, 26))
