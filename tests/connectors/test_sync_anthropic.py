"""Anthropic admin connector: httpx against a local fake of the Admin API (cost report in cents)."""

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
def fake() -> Iterator[FakeAnthropicAdmin]:
    server = FakeAnthropicAdmin(max_buckets_per_page=2)
    server.set_cost(D1, "wrk_support", "claude-sonnet-5", "uncached_input_tokens", "1250.5")  # $12.505
    server.set_cost(D1, None, "claude-haiku-5", "output_tokens", "0.0375")  # default workspace
    server.set_cost(D3, "wrk_sales", "claude-sonnet-5", "output_tokens", "99")
    server.set_usage(
        D1,
        "wrk_support",
        "apikey_01",
        "claude-sonnet-5",
        uncached_input=1000,
        output=300,
        cache_read=5000,
        cache_write_5m=200,
        cache_write_1h=100,
    )
    server.start()
    yield server
    server.stop()


def url_of(fake: FakeAnthropicAdmin | FakeOpenAIAdmin) -> str:
    assert fake._httpd is not None
    host, port = fake._httpd.server_address[:2]
    return f"http://{host!s}:{port}"


def connector(fake: FakeAnthropicAdmin, suffix: str = "", **kwargs: object) -> AnthropicAdminConnector:
    return AnthropicAdminConnector(
        admin_key=fake.admin_key,
        base_url=url_of(fake) + suffix,
        clock=fixed_clock(),
        **kwargs,  # type: ignore[arg-type]
    )


def syncer(engine: Engine, time: FakeTime, attempts: int = 3) -> SyncEngine:
    return SyncEngine(
        engine=engine,
        policy=SyncPolicy(backfill_days=7, retry=RetryPolicy(max_attempts=attempts, base_delay=1.0, max_delay=8.0)),
        clock=fixed_clock(),
        sleep=time.sleep,
        timer=time.timer,
        rng=random.Random(5),
    )


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_fetch_pages_and_converts_cents_exactly(fake: FakeAnthropicAdmin, suffix: str) -> None:
    result = connector(fake, suffix).fetch(Window(D1, TODAY + timedelta(days=1)))
    cost_calls = fake.calls_to("/v1/organizations/cost_report")
    assert len(cost_calls) == 3 and cost_calls[2].one("page")
    assert cost_calls[0].many("group_by") == ["workspace_id", "description"]
    assert cost_calls[0].headers["anthropic-version"] == "2023-06-01"
    assert cost_calls[0].one("starting_at") == f"{D1}T00:00:00Z"
    assert result.requests == 6
    by_amount = {line.billed_cost: line for line in result.lines}
    assert set(by_amount) == {Decimal("12.505"), Decimal("0.000375"), Decimal("0.99")}
    line = by_amount[Decimal("12.505")]
    assert (line.billing_currency, line.model, line.provider) == ("USD", "claude-sonnet-5", "Anthropic")
    assert line.sku_id == "claude-sonnet-5 Usage - Input Tokens" and line.is_ai
    assert line.tags == {"anthropic:workspace_id": "wrk_support"}
    assert by_amount[Decimal("0.000375")].tags == {"anthropic:workspace_id": "default"}
    [usage] = result.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens, usage.output_tokens) == (
        6300,
        5000,
        300,
        300,
    )
    assert (usage.sub_account, usage.api_key_id) == ("wrk_support", "apikey_01")


def test_empty_window_returns_nothing(fake: FakeAnthropicAdmin) -> None:
    result = connector(fake).fetch(Window(D2, D2 + timedelta(days=1)))
    assert result.lines == [] and list(result.usage) == [] and result.requests == 2


def test_workspaces_and_api_keys_are_attributed_by_rules(fake: FakeAnthropicAdmin) -> None:
    rules = parse_rules(
        {
            "rules": [
                {"match": {"workspace_id": "wrk_support"}, "set": {"team": "support"}},
                {"match": {"source": "anthropic", "api_key_id": "apikey_01"}, "set": {"customer": "acme"}},
                {"match": {"workspace_id": "default"}, "set": {"team": "platform"}},
            ]
        }
    )
    result = connector(fake, rules=rules).fetch(Window(D1, D1 + timedelta(days=1)))
    assert sorted(line.team for line in result.lines) == ["platform", "support"]
    assert (result.usage[0].team, result.usage[0].customer) == ("support", "acme")


def test_unauthorized_is_fatal_and_names_the_setting(fake: FakeAnthropicAdmin) -> None:
    bad = AnthropicAdminConnector(admin_key="sk-ant-admin01-wrong", base_url=url_of(fake), clock=fixed_clock())
    with pytest.raises(FatalError) as info:
        bad.fetch(Window(D1, D2))
    assert "HTTP 401" in str(info.value) and "AISPEND_ANTHROPIC_ADMIN_KEY" in str(info.value)


def test_overloaded_529_is_retryable_with_the_ratelimit_reset(fake: FakeAnthropicAdmin) -> None:
    reset = (NOW + timedelta(seconds=12)).isoformat().replace("+00:00", "Z")
    fake.fail_next(529, headers={"anthropic-ratelimit-requests-reset": reset})
    with pytest.raises(RetryableError) as info:
        connector(fake).fetch(Window(D1, D2))
    assert info.value.retry_after == 12.0


def test_sync_429_then_success(engine: Engine, fake: FakeAnthropicAdmin) -> None:
    time = FakeTime()
    fake.fail_next(429, headers={"retry-after": "4"}, path="/v1/organizations/usage_report/messages")
    [report] = syncer(engine, time).sync({"anthropic": connector(fake)})
    assert report.ok and report.attempts == 2 and time.sleeps[0] >= 4
    assert len(cost_rows(engine, "anthropic")) == 3 and len(usage_rows(engine, "anthropic")) == 1


def test_5xx_until_retries_run_out_fails_only_that_source(engine: Engine, fake: FakeAnthropicAdmin) -> None:
    time = FakeTime()
    fake.fail_next(500, times=1000)
    other = FakeOpenAIAdmin()
    other.set_cost(D1, "proj_a", "gpt-4o-2024-08-06, input", "2")
    with other.running() as other_url:
        reports = syncer(engine, time, attempts=3).sync(
            {
                "anthropic": connector(fake),
                "openai": OpenAIAdminConnector(admin_key=other.admin_key, base_url=other_url, clock=fixed_clock()),
            }
        )
    assert [r.status for r in reports] == ["failed", "ok"]
    state = sync_state(engine, "anthropic")
    assert state is not None and "HTTP 500" in state["last_error"] and state["last_error_at"] == NOW
    assert cost_rows(engine, "anthropic") == [] and len(time.sleeps) == 2
    assert [r["billed_cost"] for r in cost_rows(engine, "openai")] == [Decimal(2)]


def test_restated_day_updates_the_ledger_without_duplicates(engine: Engine, fake: FakeAnthropicAdmin) -> None:
    time = FakeTime()
    syncer(engine, time).sync({"anthropic": connector(fake)})
    fake.set_cost(D3, "wrk_sales", "claude-sonnet-5", "output_tokens", "120.25")  # restated: $0.99 -> $1.2025
    [report] = syncer(engine, time).sync({"anthropic": connector(fake)})
    assert (report.lines.updated, report.lines.inserted, report.lines.removed) == (1, 0, 0)
    rows = cost_rows(engine, "anthropic")
    assert len(rows) == 3
    assert Decimal("1.2025") in {r["billed_cost"] for r in rows} and Decimal("0.99") not in {
        r["billed_cost"] for r in rows
    }


def test_rerun_against_unchanged_upstream_changes_nothing(engine: Engine, fake: FakeAnthropicAdmin) -> None:
    time = FakeTime()
    syncer(engine, time).sync({"anthropic": connector(fake)})
    before = (cost_rows(engine), usage_rows(engine))
    [report] = syncer(engine, time).sync({"anthropic": connector(fake)}, since=D1)
    assert report.ok and (report.lines.inserted, report.lines.updated, report.lines.removed) == (0, 0, 0)
    assert (report.usage.inserted, report.usage.updated, report.usage.removed) == (0, 0, 0)
    assert (cost_rows(engine), usage_rows(engine)) == before
