"""Langfuse connector: httpx against a local fake of the public observations API, synced into the ledger."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from aispend.connectors.base import FatalError, Window
from aispend.connectors.langfuse import LangfuseConnector
from aispend.core.rules.attribution import parse_rules
from aispend.core.settings import Settings
from aispend.jobs.retry import RetryPolicy
from aispend.jobs.sync import SyncEngine, SyncPolicy
from tests.fakes.langfuse import PATH, FakeLangfuse, generation
from tests.sync_helpers import NOW, FakeTime, call_rows, call_totals, fixed_clock

TODAY = NOW.date()
RULES = parse_rules(
    {"rules": [{"match": {"source": "langfuse", "name": "triage"}, "set": {"workflow": "support-triage"}}]}
)


def at(days_ago: int, hour: int, minute: int = 0) -> datetime:
    day = TODAY - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeLangfuse]:
    server = FakeLangfuse(max_limit=2)  # 2 per page: every day with 3 calls takes two pages
    server.add(
        generation(
            "obs-1",
            at(2, 9),
            trace_id="trace-a",
            name="triage",
            cost={"input": 0.00015, "output": 0.00012, "total": 0.00027},
            metadata={"team": "support", "customer": "acme"},
        )
    )
    server.add(
        generation(
            "obs-2",
            at(2, 9, 5),
            trace_id="trace-a",
            name="triage",
            usage={"input": 2000, "input_cached_tokens": 1000, "output": 300, "output_reasoning_tokens": 100},
            calculated=0.0042,
        )
    )
    server.add(generation("obs-3", at(2, 10), trace_id="trace-b", usage={"input": 1_000_000, "output": 0}))
    server.add(
        generation(
            "obs-4",
            at(1, 14),
            trace_id="trace-c",
            model="claude-sonnet-4-5",
            usage={"input": 500, "cache_read_input_tokens": 4000, "cache_creation_input_tokens": 1000, "output": 50},
            cost={
                "input": 0.0015,
                "cache_read_input_tokens": 0.0012,
                "cache_creation_input_tokens": 0.00375,
                "output": 0.00075,
            },
        )
    )
    server.add(generation("span-1", at(1, 14), kind="SPAN", model=None, usage={}))
    server.start()
    yield server
    server.stop()


def connector(fake: FakeLangfuse, **kwargs: object) -> LangfuseConnector:
    assert fake._httpd is not None
    host, port = fake._httpd.server_address[:2]
    return LangfuseConnector(
        host=f"http://{host!s}:{port}/",
        public_key=fake.public_key,
        secret_key=fake.secret_key,
        rules=RULES,
        clock=fixed_clock(),
        timeout=5,
        **kwargs,  # type: ignore[arg-type]
    )


def syncer(engine: Engine, time: FakeTime | None = None, attempts: int = 3) -> SyncEngine:
    time = time or FakeTime()
    return SyncEngine(
        engine=engine,
        policy=SyncPolicy(backfill_days=4, retry=RetryPolicy(max_attempts=attempts, base_delay=1.0, max_delay=30.0)),
        clock=fixed_clock(),
        sleep=time.sleep,
        timer=time.timer,
        rng=random.Random(2),
    )


def test_fetch_pages_through_a_day_with_basic_auth(fake: FakeLangfuse) -> None:
    day = TODAY - timedelta(days=2)
    result = connector(fake).fetch(Window(day, day + timedelta(days=1)))
    calls = fake.calls_to(PATH)
    assert len(calls) == 2 and result.requests == 2
    assert [c.one("page") for c in calls] == ["1", "2"]
    assert calls[0].one("type") == "GENERATION"
    assert calls[0].one("fromStartTime") == f"{day.isoformat()}T00:00:00.000Z"
    assert calls[0].one("toStartTime") == f"{(day + timedelta(days=1)).isoformat()}T00:00:00.000Z"
    assert sorted(c.call_key for c in result.calls) == ["id:langfuse:obs-1", "id:langfuse:obs-2", "id:langfuse:obs-3"]
    assert result.rejected == []


def test_first_sync_inserts_second_changes_nothing(engine: Engine, fake: FakeLangfuse) -> None:
    [first] = syncer(engine).sync({"langfuse": connector(fake)})
    assert first.ok, first.error
    assert (first.calls.inserted, first.calls.updated, first.calls.unchanged) == (4, 0, 0)
    rows = call_rows(engine)
    one, two, three, four = (rows[f"id:langfuse:obs-{n}"] for n in range(1, 5))
    assert (one["cost"], one["cost_source"], one["run_id"], one["step"]) == (
        Decimal("0.00027"),
        "given",
        "trace-a",
        "triage",
    )
    assert (one["workflow"], one["team"], one["customer"], one["latency_ms"]) == (
        "support-triage",
        "support",
        "acme",
        400,
    )
    # usage types are disjoint: input = uncached + cached, output = output + reasoning
    assert (two["input_tokens"], two["cache_read_tokens"], two["output_tokens"]) == (3000, 1000, 400)
    assert two["cost"] == Decimal("0.0042")  # calculatedTotalCost when costDetails is empty
    assert three["cost_source"] == "priced" and three["cost"] > 0 and three["provider"] == "openai"
    assert (four["input_tokens"], four["cache_read_tokens"], four["cache_write_tokens"]) == (5500, 4000, 1000)
    assert four["cost"] == Decimal("0.0072")  # the sum of costDetails when it has no total
    before = call_totals(engine)
    assert before["hourly"] == before["daily"] == before["calls"]
    assert before["runs"] == before["runs_expected"]
    assert before["runs"][0] == 4

    [second] = syncer(engine).sync({"langfuse": connector(fake)})
    assert second.ok, second.error
    assert (second.calls.inserted, second.calls.updated, second.calls.unchanged) == (0, 0, 4)
    assert call_totals(engine) == before
    assert call_rows(engine) == rows


def test_a_restated_observation_updates_in_place(engine: Engine, fake: FakeLangfuse) -> None:
    syncer(engine).sync({"langfuse": connector(fake)})
    before = call_rows(engine)
    fake.add(
        generation(
            "obs-1",
            at(2, 9),
            trace_id="trace-a",
            name="triage",
            usage={"input": 5000, "output": 200},
            cost={"total": 1.5},
            metadata={"team": "support", "customer": "globex"},
        )
    )
    [report] = syncer(engine).sync({"langfuse": connector(fake)})
    assert report.ok, report.error
    assert (report.calls.inserted, report.calls.updated, report.calls.unchanged) == (0, 1, 3)
    after = call_rows(engine)
    one = after["id:langfuse:obs-1"]
    assert one["id"] == before["id:langfuse:obs-1"]["id"]
    assert (one["cost"], one["input_tokens"], one["customer"]) == (Decimal("1.5"), 5000, "globex")
    totals = call_totals(engine)
    expected_cost = sum((r["cost"] for r in after.values()), Decimal(0))
    assert totals["calls"][3] == expected_cost
    assert expected_cost - sum((r["cost"] for r in before.values()), Decimal(0)) == Decimal("1.5") - Decimal("0.00027")
    assert totals["hourly"] == totals["daily"] == totals["calls"]
    assert totals["runs"] == totals["runs_expected"]


def test_429_with_retry_after_and_a_5xx_are_retried(engine: Engine, fake: FakeLangfuse) -> None:
    fake.fail_next(429, headers={"Retry-After": "7"})
    fake.fail_next(503)
    time = FakeTime()
    [report] = syncer(engine, time).sync({"langfuse": connector(fake)})
    assert report.ok, report.error
    assert report.calls.inserted == 4
    assert time.sleeps[0] == 7  # the server's wait, not the backoff's
    assert len(time.sleeps) == 2


def test_bad_records_are_reported_not_fatal(engine: Engine, fake: FakeLangfuse) -> None:
    fake.add(generation("obs-no-model", at(1, 15), model=None))
    fake.add(generation("obs-neg", at(1, 16), usage={"input": -3, "output": 1}))
    broken = generation("obs-bad-time", at(1, 17))
    broken["endTime"] = "yesterday"
    fake.add(broken)
    [report] = syncer(engine).sync({"langfuse": connector(fake)})
    assert report.ok, report.error
    assert report.calls.inserted == 4
    reasons = " | ".join(sorted(report.rejected))
    assert "observation 'obs-no-model': missing model" in reasons
    assert "observation 'obs-neg': usage input must be a whole number" in reasons
    assert "observation 'obs-bad-time': endTime is not an ISO 8601 time" in reasons


def test_wrong_keys_fail_this_source_only(engine: Engine, fake: FakeLangfuse) -> None:
    wrong = connector(fake)
    wrong.secret_key = "sk-lf-wrong"
    wrong.name = "langfuse-eu"
    reports = syncer(engine).sync({"langfuse-eu": wrong, "langfuse": connector(fake)})
    assert reports[0].status == "failed"
    assert "HTTP 401" in (reports[0].error or "") and "AISPEND_LANGFUSE_SECRET_KEY" in (reports[0].error or "")
    assert "sk-lf-wrong" not in (reports[0].error or "")
    assert reports[1].ok and reports[1].calls.inserted == 4


def test_settings_build_it_and_a_blank_secret_is_off() -> None:
    c = LangfuseConnector.from_settings(
        Settings(langfuse_host="https://lf.example", langfuse_public_key="pk-lf-1", langfuse_secret_key="sk-lf-2")
    )
    assert c.is_configured() and c.host == "https://lf.example" and "sk-lf-2" not in repr(c)
    assert not LangfuseConnector.from_settings(
        Settings(langfuse_public_key="pk", langfuse_secret_key=" ")
    ).is_configured()
    with pytest.raises(FatalError):
        LangfuseConnector().fetch(Window(TODAY, TODAY + timedelta(days=1)))
