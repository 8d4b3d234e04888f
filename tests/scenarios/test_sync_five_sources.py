"""All five sources through the registry and the sync engine, with the REAL cloud connectors.

Connectors are built from settings exactly as `aispend sync` builds them (the registry), pointed at
the local upstreams of tests/five_sources.py through the standard credential chains. The engine and
the connectors share one injected sleep (tests.sync_helpers.FakeTime): nothing really waits, and
every wait is asserted.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from aispend.cli.main import app
from aispend.cli.runtime import Runtime
from aispend.connectors.registry import build_connectors
from aispend.core.settings import load_settings
from aispend.jobs.sync import SourceReport, SyncEngine, SyncPolicy
from tests.cloud_fakes import Reply, Request, ce_error, google_error
from tests.five_sources import AWS_SERVICES, FiveSources, five_sources, without_foreign_credentials
from tests.sync_helpers import NOW, FakeTime, cost_rows, fixed_clock, sync_state, usage_rows

TODAY = NOW.date()
DAYS = 5
CLOUD = ("aws", "azure", "gcp")
# Rows per day in tests.five_sources.Volume(): 3 AWS services x 2 tag combinations, 2 Azure
# resources, 2 GCP SKUs x 1 label set.
CLOUD_ROWS_PER_DAY = {"aws": len(AWS_SERVICES) * 2, "azure": 2, "gcp": 2}
# A daily AWS sync: 1 GetDimensionValues ("Bedrock" finds Amazon Bedrock and one Marketplace model)
# + 1 GetCostAndUsage per service (2 tag keys) for those two and the configured SageMaker and Q.
AWS_DAILY_REQUESTS = 1 + 4


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[FiveSources]:
    with five_sources(TODAY, DAYS) as sources:
        without_foreign_credentials(monkeypatch.delenv)
        sources.apply_env(monkeypatch.setenv)
        monkeypatch.setenv("AISPEND_DATABASE_URL", database_url)
        monkeypatch.setenv("AISPEND_SYNC_BACKFILL_DAYS", str(DAYS))
        monkeypatch.setenv("AISPEND_SYNC_MAX_ATTEMPTS", "3")
        yield sources


def sync_all(engine: Engine, time: FakeTime) -> dict[str, SourceReport]:
    """One `aispend sync` of every source, as the CLI wires it, with the fake time injected."""
    settings = load_settings()
    five = ["aws", "azure", "gcp", "openai", "anthropic"]  # the per-call sources have tests of their own
    connectors = build_connectors(settings, five, clock=fixed_clock(), sleep=time.sleep)
    sync = SyncEngine(
        engine=engine,
        policy=SyncPolicy.from_settings(settings),
        clock=fixed_clock(),
        sleep=time.sleep,
        timer=time.timer,
        rng=random.Random(3),
    )
    return {report.source: report for report in sync.sync(connectors)}


def cli(time: FakeTime, *args: str) -> tuple[int, Any]:
    """`aispend <args> --json` with a fixed clock and the fake sleep; returns (exit code, parsed JSON)."""
    rt = Runtime(settings=load_settings(), clock=fixed_clock(), sleep=time.sleep)
    result = CliRunner().invoke(app, [*args, "--json"], obj=rt)
    try:
        return result.exit_code, json.loads(result.stdout)
    except ValueError:
        raise AssertionError(result.output) from result.exception


def ce_requests(sources: FiveSources) -> list[Request]:
    return [r for r in sources.aws.requests if r.headers.get("x-amz-target", "").startswith("AWSInsightsIndex")]


# --- re-running changes nothing ------------------------------------------------------------------


def test_rerunning_sync_changes_nothing_for_all_five_sources(engine: Engine, upstream: FiveSources) -> None:
    time = FakeTime()
    code, first = cli(time, "sync")
    assert code == 0, first
    reports = {r["source"]: r for r in first}
    assert {name: r["status"] for name, r in reports.items()} == {
        **dict.fromkeys(("aws", "azure", "gcp", "openai", "anthropic"), "ok"),
        # the per-call sources are registered too; these tests do not configure them
        **dict.fromkeys(("litellm", "langfuse"), "not configured"),
    }
    for source, per_day in CLOUD_ROWS_PER_DAY.items():
        assert reports[source]["lines"]["inserted"] == DAYS * per_day, source
        assert len(cost_rows(engine, source)) == DAYS * per_day
    assert reports["openai"]["lines"]["inserted"] > 0 and reports["anthropic"]["lines"]["inserted"] > 0
    assert reports["aws"]["requests"] == AWS_DAILY_REQUESTS  # the 5-day backfill is one window
    costs, usage = cost_rows(engine), usage_rows(engine)
    assert usage  # the admin APIs' token usage is part of "the ledger" too

    before = len(ce_requests(upstream))
    code, second = cli(time, "sync")  # the incremental sync: the look-back days again
    assert code == 0, second
    for report in second:
        if report["source"] in ("litellm", "langfuse"):  # registered, not configured here
            assert report["status"] == "not configured", report
            continue
        assert report["status"] == "ok", report
        assert report["window"] == {
            "start": (TODAY - timedelta(days=2)).isoformat(),
            "end": (TODAY + timedelta(days=1)).isoformat(),
        }
        assert report["lines"]["inserted"] == report["lines"]["updated"] == report["lines"]["removed"] == 0
        assert report["lines"]["unchanged"] > 0, report
    assert cost_rows(engine) == costs  # amounts, attribution and ingested_at untouched
    assert usage_rows(engine) == usage

    # The number of billed Cost Explorer requests a daily sync makes, as recorded in SyncState.
    aws_state = sync_state(engine, "aws")
    assert aws_state is not None
    assert aws_state["requests_last_sync"] == AWS_DAILY_REQUESTS == len(ce_requests(upstream)) - before

    code, third = cli(time, "sync", "--from", (TODAY - timedelta(days=DAYS - 1)).isoformat())
    assert code == 0 and all(r["lines"]["inserted"] + r["lines"]["updated"] == 0 for r in third)
    assert cost_rows(engine) == costs and usage_rows(engine) == usage
    assert time.sleeps == []  # nothing failed, nothing waited

    code, status = cli(time, "status")
    assert code == 0 and {s["state"] for s in status if s["source"] not in ("litellm", "langfuse")} == {"ok"}


# --- one cloud source failing, the others succeeding ------------------------------------------------


@dataclass(frozen=True)
class Fault:
    reply: Reply
    when: Callable[[Request], bool]


def _is_ce(request: Request) -> bool:
    return request.headers.get("x-amz-target", "").startswith("AWSInsightsIndex")


def _is_cost_query(request: Request) -> bool:
    return request.path.endswith("/providers/Microsoft.CostManagement/query")


def _is_bigquery_query(request: Request) -> bool:
    return request.path.endswith("/queries")  # not the token endpoint: credentials stay fine


SERVER_ERRORS = {
    "aws": Fault(ce_error(503, "ServiceUnavailableException", "Service is unavailable"), _is_ce),
    "azure": Fault(
        Reply(503, {"error": {"code": "ServiceUnavailable", "message": "The service is unavailable."}}),
        _is_cost_query,
    ),
    "gcp": Fault(google_error(500, "backendError", "Backend error. Please try again."), _is_bigquery_query),
}


@pytest.mark.parametrize("failing", CLOUD)
def test_cloud_5xx_until_retries_run_out_fails_that_source_only(
    engine: Engine, upstream: FiveSources, failing: str
) -> None:
    fake = getattr(upstream, failing)
    fault = SERVER_ERRORS[failing]
    fake.fail_next(fault.reply, times=100, when=fault.when)
    time = FakeTime()

    reports = sync_all(engine, time)

    failed = reports[failing]
    assert failed.status == "failed" and failed.attempts == 3
    assert failed.error is not None and failed.error.startswith(f"{failing}: gave up after 3 attempts")
    assert len([r for r in fake.requests if fault.when(r)]) == 3  # the engine's 3 attempts, no hidden retries
    assert len(time.sleeps) == 2 and failed.waited_seconds == sum(time.sleeps)  # the engine's backoff only
    state = sync_state(engine, failing)
    assert state is not None
    assert state["last_error"] == failed.error and state["last_error_at"] == NOW
    assert state["last_success_at"] is None and state["requests_last_sync"] >= 3
    assert cost_rows(engine, failing) == []
    for source in set(reports) - {failing}:
        assert reports[source].status == "ok", reports[source].error
        assert cost_rows(engine, source), source
        state = sync_state(engine, source)
        assert state is not None and state["last_error"] is None and state["last_success_at"] == NOW


# --- throttled, then success, the provider's wait honoured ------------------------------------------

THROTTLES = {
    # Cost Explorer throttles with HTTP 400 LimitExceededException.
    "aws": (Fault(ce_error(400, "LimitExceededException", "Rate exceeded", {"Retry-After": "7"}), _is_ce), 7.0),
    # Cost Management sends only its own headers; the longest one wins.
    "azure": (
        Fault(
            Reply(
                429,
                {"error": {"code": "429", "message": "Too many requests. Please retry."}},
                headers={
                    "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "11",
                    "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after": "4",
                },
            ),
            _is_cost_query,
        ),
        11.0,
    ),
    "gcp": (
        Fault(
            google_error(429, "rateLimitExceeded", "Exceeded rate limits", {"Retry-After": "9"}),
            _is_bigquery_query,
        ),
        9.0,
    ),
}


@pytest.mark.parametrize("source", CLOUD)
def test_cloud_throttle_outlasting_the_connector_is_waited_out_by_the_engine(
    engine: Engine, upstream: FiveSources, source: str
) -> None:
    """4 throttles in a row: the connector waits the provider's hint 3 times in place (DEFAULT_THROTTLE_RETRIES),
    then hands a Throttled error to the engine, which waits the hint again (longer than its own
    backoff) and re-fetches successfully."""
    fault, wait = THROTTLES[source]
    getattr(upstream, source).fail_next(fault.reply, times=4, when=fault.when)
    time = FakeTime()

    reports = sync_all(engine, time)

    report = reports[source]
    assert report.status == "ok", report.error
    assert time.sleeps == [wait] * 4  # three in the connector, one in the engine, all injected
    assert report.attempts == 2 and report.waited_seconds == wait
    assert len(cost_rows(engine, source)) == DAYS * CLOUD_ROWS_PER_DAY[source]
    state = sync_state(engine, source)
    assert state is not None and state["last_error"] is None and state["last_success_at"] == NOW
    assert all(r.status == "ok" for r in reports.values() if r.source not in ("litellm", "langfuse"))


def test_single_throttle_is_retried_in_place_without_re_sending_billed_requests(
    engine: Engine, upstream: FiveSources
) -> None:
    """One Cost Explorer throttle: only the throttled request is sent again (earlier ones are billed)."""
    fault, wait = THROTTLES["aws"]
    upstream.aws.fail_next(
        fault.reply, times=1, when=lambda r: r.headers.get("x-amz-target", "").endswith(".GetCostAndUsage")
    )
    time = FakeTime()

    report = sync_all(engine, time)["aws"]

    assert report.status == "ok" and report.attempts == 1 and time.sleeps == [wait]
    discovery = [r for r in ce_requests(upstream) if r.headers["x-amz-target"].endswith(".GetDimensionValues")]
    assert len(discovery) == 1
    # Every request sent is counted as billed, the throttled one included.
    assert report.requests == AWS_DAILY_REQUESTS + 1 == len(ce_requests(upstream))
    state = sync_state(engine, "aws")
    assert state is not None and state["requests_last_sync"] == AWS_DAILY_REQUESTS + 1


def test_aws_backfill_is_one_window_so_discovery_is_paid_once(
    engine: Engine, upstream: FiveSources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine asks Cost Explorer for the 90-day backfill in one window (max_window_days), not in
    31-day chunks that would each repeat the discovery and per-service queries."""
    monkeypatch.setenv("AISPEND_SYNC_BACKFILL_DAYS", "90")

    report = sync_all(engine, FakeTime())["aws"]

    assert report.status == "ok" and report.fetches == 1
    periods = {json.dumps(r.json()["TimePeriod"]) for r in ce_requests(upstream)}
    assert periods == {
        json.dumps({"Start": (TODAY - timedelta(days=89)).isoformat(), "End": (TODAY + timedelta(days=1)).isoformat()})
    }
    discovery = [r for r in ce_requests(upstream) if r.headers["x-amz-target"].endswith(".GetDimensionValues")]
    assert len(discovery) == 1
    assert len(cost_rows(engine, "aws")) == DAYS * CLOUD_ROWS_PER_DAY["aws"]
