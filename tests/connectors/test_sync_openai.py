"""OpenAI admin connector: the real `openai` client against a local fake of the admin API."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from aispend.connectors.anthropic_admin import AnthropicAdminConnector
from aispend.connectors.base import FatalError, RetryableError, Window
from aispend.connectors.openai_admin import OpenAIAdminConnector
from aispend.core.rules.attribution import parse_rules
from aispend.jobs.retry import RetryPolicy
from aispend.jobs.sync import SyncEngine, SyncPolicy
from tests.fakes.anthropic_admin import FakeAnthropicAdmin
from tests.fakes.openai_admin import FakeOpenAIAdmin
from tests.sync_helpers import NOW, FakeTime, cost_rows, fixed_clock, sync_state, usage_rows

TODAY = NOW.date()
D1, D2, D3 = (TODAY - timedelta(days=n) for n in (5, 4, 2))


@pytest.fixture
def fake() -> Iterator[FakeOpenAIAdmin]:
    server = FakeOpenAIAdmin(max_buckets_per_page=2)
    server.set_cost(D1, "proj_support", "gpt-4o-2024-08-06, input", "1.25", quantity="500000", quantity_unit="tokens")
    server.set_cost(D1, "proj_support", "gpt-4o-2024-08-06, output", "0.000123456789")
    server.set_cost(D3, "proj_sales", "gpt-4o-mini-2024-07-18, input", "3.1")
    server.set_usage(
        D1,
        "proj_support",
        "key_a",
        "gpt-4o-2024-08-06",
        input_tokens=500_000,
        cached_tokens=100_000,
        output_tokens=20_000,
        requests=40,
    )
    server.start()
    yield server
    server.stop()


def connector(fake: FakeOpenAIAdmin, base_suffix: str = "/v1", **kwargs: object) -> OpenAIAdminConnector:
    return OpenAIAdminConnector(
        admin_key=fake.admin_key,
        base_url=fake_url(fake) + base_suffix,
        clock=fixed_clock(),
        **kwargs,  # type: ignore[arg-type]
    )


def fake_url(fake: FakeOpenAIAdmin) -> str:
    assert fake._httpd is not None
    host, port = fake._httpd.server_address[:2]
    return f"http://{host!s}:{port}"


def syncer(engine: Engine, time: FakeTime, attempts: int = 3) -> SyncEngine:
    return SyncEngine(
        engine=engine,
        policy=SyncPolicy(backfill_days=7, retry=RetryPolicy(max_attempts=attempts, base_delay=1.0, max_delay=8.0)),
        clock=fixed_clock(),
        sleep=time.sleep,
        timer=time.timer,
        rng=random.Random(3),
    )


@pytest.mark.parametrize("suffix", ["/v1", "", "/v1/", "/"])
def test_fetch_follows_next_page_and_keeps_amounts_exact(fake: FakeOpenAIAdmin, suffix: str) -> None:
    result = connector(fake, suffix).fetch(Window(D1, TODAY + timedelta(days=1)))
    cost_calls = fake.calls_to("/v1/organization/costs")
    assert len(cost_calls) == 3  # 6 daily buckets at 2 per page
    assert cost_calls[1].one("page") and cost_calls[1].many("group_by") == ["project_id", "line_item"]
    assert result.requests == 6  # costs and completions, three pages each
    amounts = sorted(line.billed_cost for line in result.lines)
    assert amounts == [Decimal("0.000123456789"), Decimal("1.25"), Decimal("3.1")]
    line = next(line for line in result.lines if line.billed_cost == Decimal("1.25"))
    assert (line.billing_currency, line.model, line.sku_id) == (
        "USD",
        "gpt-4o-2024-08-06",
        "gpt-4o-2024-08-06, input",
    )
    assert line.consumed_quantity == Decimal(500000) and line.consumed_unit == "tokens"
    assert line.is_ai and line.tags == {"openai:project_id": "proj_support"} and line.charge_day == D1
    [usage] = result.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, usage.requests) == (
        500_000,
        100_000,
        20_000,
        40,
    )
    assert (usage.sub_account, usage.api_key_id, usage.model) == (
        "proj_support",
        "key_a",
        "gpt-4o-2024-08-06",
    )
    assert result.freshest_data_at == NOW.replace(hour=0) - timedelta(days=1)  # end of D3's bucket


def test_empty_window_returns_nothing(fake: FakeOpenAIAdmin) -> None:
    result = connector(fake).fetch(Window(D2, D2 + timedelta(days=1)))
    assert result.lines == [] and list(result.usage) == [] and result.freshest_data_at is None
    assert result.requests == 2


def test_projects_and_api_keys_are_attributed_by_rules(fake: FakeOpenAIAdmin) -> None:
    rules = parse_rules(
        {
            "rules": [
                {"match": {"source": "openai", "project_id": "proj_support"}, "set": {"team": "support"}},
                {"match": {"api_key_id": ["key_a", "key_b"]}, "set": {"workflow": "triage-bot"}},
            ]
        }
    )
    result = connector(fake, rules=rules).fetch(Window(D1, D1 + timedelta(days=1)))
    assert {line.team for line in result.lines} == {"support"}
    assert (result.usage[0].team, result.usage[0].workflow) == ("support", "triage-bot")


def test_unauthorized_is_fatal_and_names_the_setting(fake: FakeOpenAIAdmin) -> None:
    bad = OpenAIAdminConnector(admin_key="sk-admin-wrong", base_url=fake_url(fake), clock=fixed_clock())
    with pytest.raises(FatalError) as info:
        bad.fetch(Window(D1, D2))
    assert "HTTP 401" in str(info.value) and "AISPEND_OPENAI_ADMIN_KEY" in str(info.value)


def test_429_carries_the_servers_wait(fake: FakeOpenAIAdmin) -> None:
    fake.fail_next(429, headers={"retry-after-ms": "2500"})
    with pytest.raises(RetryableError) as info:
        connector(fake).fetch(Window(D1, D2))
    assert info.value.retry_after == 2.5


def test_sync_429_then_success(engine: Engine, fake: FakeOpenAIAdmin) -> None:
    time = FakeTime()
    fake.fail_next(429, headers={"retry-after": "3"}, path="/v1/organization/costs")
    [report] = syncer(engine, time).sync({"openai": connector(fake)})
    assert report.ok and time.sleeps and time.sleeps[0] >= 3
    assert len(cost_rows(engine, "openai")) == 3 and len(usage_rows(engine, "openai")) == 1


def test_5xx_until_retries_run_out_fails_only_that_source(engine: Engine, fake: FakeOpenAIAdmin) -> None:
    time = FakeTime()
    fake.fail_next(503, times=1000)
    other = FakeAnthropicAdmin()
    other.set_cost(D1, "wrk_1", "claude-sonnet-5", "output_tokens", "250")
    with other.running() as other_url:
        reports = syncer(engine, time, attempts=4).sync(
            {
                "openai": connector(fake),
                "anthropic": AnthropicAdminConnector(
                    admin_key=other.admin_key, base_url=other_url, clock=fixed_clock()
                ),
            }
        )
    assert [r.status for r in reports] == ["failed", "ok"]
    state = sync_state(engine, "openai")
    assert state is not None and "HTTP 503" in state["last_error"] and "gave up after 4 attempts" in state["last_error"]
    assert state["last_success_at"] is None and cost_rows(engine, "openai") == []
    assert [r["billed_cost"] for r in cost_rows(engine, "anthropic")] == [Decimal("2.5")]


def test_restated_day_updates_the_ledger_without_duplicates(engine: Engine, fake: FakeOpenAIAdmin) -> None:
    time = FakeTime()
    syncer(engine, time).sync({"openai": connector(fake)})
    fake.set_cost(D3, "proj_sales", "gpt-4o-mini-2024-07-18, input", "3.45")  # restated
    fake.remove_cost(D1, "proj_support", "gpt-4o-2024-08-06, output")  # withdrawn
    [report] = syncer(engine, time).sync({"openai": connector(fake)})
    assert (report.lines.updated, report.lines.removed, report.lines.inserted) == (
        1,
        0,
        0,
    )  # D1 is before the look-back
    assert report.window == Window(TODAY - timedelta(days=2), TODAY + timedelta(days=1))
    rows = cost_rows(engine, "openai")
    assert len(rows) == 3
    assert sorted(r["billed_cost"] for r in rows) == [
        Decimal("0.000123456789"),
        Decimal("1.25"),
        Decimal("3.45"),
    ]
    # A forced re-pull of the whole period removes the withdrawn line.
    [report] = syncer(engine, time).sync({"openai": connector(fake)}, since=D1)
    assert report.lines.removed == 1 and len(cost_rows(engine, "openai")) == 2


def test_rerun_against_unchanged_upstream_changes_nothing(engine: Engine, fake: FakeOpenAIAdmin) -> None:
    time = FakeTime()
    syncer(engine, time).sync({"openai": connector(fake)})
    before = (cost_rows(engine), usage_rows(engine))
    [report] = syncer(engine, time).sync({"openai": connector(fake)}, since=D1)
    assert report.ok and (report.lines.inserted, report.lines.updated, report.lines.removed) == (0, 0, 0)
    assert (cost_rows(engine), usage_rows(engine)) == before


def test_malformed_response_is_fatal_and_says_where(fake: FakeOpenAIAdmin) -> None:
    fake.fail_next(200, body={"object": "page", "data": [{"start_time": 1}], "has_more": False})
    with pytest.raises(FatalError) as info:
        connector(fake).fetch(Window(D1, D2))
    assert "unexpected response in /v1/organization/costs page 1: KeyError" in str(info.value)
