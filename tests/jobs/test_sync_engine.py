"""The sync engine with in-memory connectors, a fixed clock and a sleep that never waits."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from aispend.connectors.base import Connector, FatalError, FetchResult, RetryableError, Window
from aispend.core.ledger.costlines import CostLineIn
from aispend.core.ledger.usage import UsageLineIn
from aispend.core.timeutil import start_of_day
from aispend.jobs.retry import RetryPolicy, backoff_delay
from aispend.jobs.sync import SyncEngine, SyncPolicy, plan_window, split_window
from tests.sync_helpers import NOW, FakeTime, cost_rows, fixed_clock, sync_state, usage_rows

TODAY = NOW.date()


@dataclass
class MemoryConnector(Connector):
    """Serves bill lines from a dict day -> {key: amount}; failures are scripted per call."""

    name: str
    upstream: dict[date, dict[str, Decimal]] = field(default_factory=dict)
    failures: list[Exception] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    configured: bool = True
    on_fetch: Callable[[], None] | None = None

    def is_configured(self) -> bool:
        return self.configured

    def fetch(self, window: Window) -> FetchResult:
        self.windows.append(window)
        if self.on_fetch:
            self.on_fetch()
        if self.failures:
            raise self.failures.pop(0)
        lines = []
        usage = []
        day = window.start
        while day < window.end:
            for key, amount in self.upstream.get(day, {}).items():
                lines.append(
                    CostLineIn(
                        source=self.name,
                        natural_key=f"{day}:{key}",
                        charge_period_start=start_of_day(day),
                        charge_period_end=start_of_day(day + timedelta(days=1)),
                        billed_cost=amount,
                        billing_currency="USD",
                        provider="OpenAI",
                        is_ai=True,
                    )
                )
                usage.append(
                    UsageLineIn(
                        source=self.name,
                        natural_key=f"{day}:{key}",
                        day=day,
                        provider="openai",
                        input_tokens=10,
                    )
                )
            day += timedelta(days=1)
        return FetchResult(lines=lines, requests=1, usage=usage)


def make_engine(engine: Engine, time: FakeTime, **policy: object) -> SyncEngine:
    defaults: dict[str, object] = {"lookback_days": 3, "backfill_days": 10, "time_limit_seconds": 600.0}
    defaults.update(policy)
    return SyncEngine(
        engine=engine,
        policy=SyncPolicy(**defaults),  # type: ignore[arg-type]
        clock=fixed_clock(),
        sleep=time.sleep,
        timer=time.timer,
        rng=random.Random(7),
    )


# --- pure planning -----------------------------------------------------------------------------


def test_first_sync_backfills_and_includes_today() -> None:
    window = plan_window(None, TODAY, SyncPolicy(backfill_days=90))
    assert window == Window(TODAY - timedelta(days=89), TODAY + timedelta(days=1))


def test_incremental_window_re_pulls_the_look_back_days() -> None:
    window = plan_window(TODAY - timedelta(days=5), TODAY, SyncPolicy(lookback_days=3))
    assert window == Window(TODAY - timedelta(days=8), TODAY + timedelta(days=1))


def test_synced_today_with_no_look_back_still_re_pulls_today() -> None:
    window = plan_window(TODAY + timedelta(days=1), TODAY, SyncPolicy(lookback_days=0))
    assert window == Window(TODAY, TODAY + timedelta(days=1))


def test_month_close_re_pulls_the_previous_month() -> None:
    policy = SyncPolicy(lookback_days=3, month_close_days=5)
    assert plan_window(date(2026, 12, 4), date(2026, 12, 3), policy).start == date(2026, 11, 1)
    assert plan_window(date(2026, 12, 7), date(2026, 12, 6), policy).start == date(2026, 12, 4)
    assert plan_window(date(2026, 12, 4), date(2026, 12, 3), SyncPolicy(month_close_days=0)).start == date(2026, 12, 1)


def test_since_forces_the_start() -> None:
    window = plan_window(TODAY, TODAY, SyncPolicy(), since=date(2026, 1, 1))
    assert window.start == date(2026, 1, 1)


def test_split_window_into_chunks() -> None:
    chunks = split_window(Window(date(2026, 1, 1), date(2026, 3, 5)), 31)
    assert chunks == [
        Window(date(2026, 1, 1), date(2026, 2, 1)),
        Window(date(2026, 2, 1), date(2026, 3, 4)),
        Window(date(2026, 3, 4), date(2026, 3, 5)),
    ]


def test_backoff_grows_with_jitter_caps_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=9, base_delay=2.0, max_delay=30.0)
    rng = random.Random(1)
    delays = [backoff_delay(n, policy, None, rng) for n in (1, 2, 3, 8)]
    assert 1.0 <= delays[0] <= 2.0
    assert 2.0 <= delays[1] <= 4.0
    assert 4.0 <= delays[2] <= 8.0
    assert 15.0 <= delays[3] <= 30.0  # capped
    assert backoff_delay(1, policy, 42.0, rng) == 42.0  # the server's wait wins when longer


# --- engine against the ledger -----------------------------------------------------------------


def test_first_sync_writes_lines_usage_and_state(engine: Engine) -> None:
    conn = MemoryConnector("mem", {TODAY - timedelta(days=2): {"a": Decimal("1.50")}, TODAY: {"b": Decimal("2")}})
    [report] = make_engine(engine, FakeTime()).sync({"mem": conn})
    assert report.ok and report.lines.inserted == 2 and report.usage.inserted == 2
    assert conn.windows == [Window(TODAY - timedelta(days=9), TODAY + timedelta(days=1))]
    state = sync_state(engine, "mem")
    assert state is not None
    assert state["cursor"] == (TODAY + timedelta(days=1)).isoformat()
    assert state["last_success_at"] == NOW and state["last_error"] is None
    assert state["requests_last_sync"] == 1 and state["rows_last_sync"] == 2
    assert state["freshest_data_at"] == NOW  # today's bucket ends tomorrow: capped at now


def test_rerun_against_unchanged_upstream_changes_nothing(engine: Engine) -> None:
    conn = MemoryConnector("mem", {TODAY - timedelta(days=1): {"a": Decimal("1.50"), "b": Decimal("0.25")}})
    sync = make_engine(engine, FakeTime())
    sync.sync({"mem": conn})
    before = (cost_rows(engine), usage_rows(engine))
    [report] = sync.sync({"mem": conn})
    assert (report.lines.inserted, report.lines.updated, report.lines.removed) == (0, 0, 0)
    assert report.lines.unchanged == 2
    assert (cost_rows(engine), usage_rows(engine)) == before  # ids, amounts and ingested_at untouched


def test_restated_day_replaces_never_adds(engine: Engine) -> None:
    day = TODAY - timedelta(days=2)
    conn = MemoryConnector("mem", {day: {"a": Decimal("1.50"), "gone": Decimal("3")}})
    sync = make_engine(engine, FakeTime())
    sync.sync({"mem": conn})
    conn.upstream[day] = {"a": Decimal("1.75")}  # restated: a revised, "gone" withdrawn
    [report] = sync.sync({"mem": conn})
    assert (report.lines.updated, report.lines.removed) == (1, 1)
    rows = cost_rows(engine)
    assert [(r["natural_key"], r["billed_cost"]) for r in rows] == [(f"{day}:a", Decimal("1.75"))]
    assert len(usage_rows(engine)) == 1


def test_second_sync_starts_at_cursor_minus_look_back(engine: Engine) -> None:
    conn = MemoryConnector("mem")
    sync = make_engine(engine, FakeTime(), lookback_days=3)
    sync.sync({"mem": conn})
    sync.sync({"mem": conn})
    assert conn.windows[-1] == Window(TODAY - timedelta(days=2), TODAY + timedelta(days=1))


def test_retryable_error_is_retried_after_the_servers_wait(engine: Engine) -> None:
    time = FakeTime()
    conn = MemoryConnector("mem", {TODAY: {"a": Decimal(1)}}, failures=[RetryableError("mem", "HTTP 429", 7.5)])
    [report] = make_engine(engine, time).sync({"mem": conn})
    assert report.ok and report.attempts == 2 and report.requests == 2
    assert len(time.sleeps) == 1 and time.sleeps[0] >= 7.5
    assert len(cost_rows(engine)) == 1


def test_a_failing_source_is_recorded_and_the_others_still_sync(engine: Engine) -> None:
    time = FakeTime()
    broken = MemoryConnector("broken", failures=[RetryableError("broken", "HTTP 503: down")] * 10)
    healthy = MemoryConnector("healthy", {TODAY: {"a": Decimal(1)}})
    sync = make_engine(engine, time, retry=RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=10.0))
    reports = sync.sync({"broken": broken, "healthy": healthy})
    assert [r.status for r in reports] == ["failed", "ok"]
    assert len(broken.windows) == 4 and len(time.sleeps) == 3
    assert time.sleeps == sorted(time.sleeps)  # exponential: each wait longer than the last here
    state = sync_state(engine, "broken")
    assert state is not None and state["last_success_at"] is None and state["last_error_at"] == NOW
    assert "gave up after 4 attempts" in state["last_error"] and "HTTP 503" in state["last_error"]
    assert state["requests_last_sync"] == 4
    assert len(cost_rows(engine, "healthy")) == 1


def test_fatal_error_is_not_retried_and_names_the_fix(engine: Engine) -> None:
    time = FakeTime()
    conn = MemoryConnector("mem", failures=[FatalError("mem", "HTTP 401", "set AISPEND_MEM_KEY")])
    [report] = make_engine(engine, time).sync({"mem": conn})
    assert report.status == "failed" and len(conn.windows) == 1 and time.sleeps == []
    assert report.error == "mem: HTTP 401 — set AISPEND_MEM_KEY"


def test_time_limit_keeps_written_chunks_and_resumes_from_them(engine: Engine) -> None:
    time = FakeTime()
    upstream = {TODAY - timedelta(days=80): {"old": Decimal(1)}}
    conn = MemoryConnector("mem", upstream)

    def slow() -> None:  # each fetch takes 400 s of the 600 s budget
        time.now += 400

    conn.on_fetch = slow
    sync = make_engine(engine, time, backfill_days=90, time_limit_seconds=600.0)
    [report] = sync.sync({"mem": conn})
    assert report.status == "failed" and "time limit of 600 s" in (report.error or "")
    assert len(conn.windows) == 2 and len(cost_rows(engine)) == 1  # two chunks written before the limit
    state = sync_state(engine, "mem")
    assert state is not None and state["cursor"] == conn.windows[1].end.isoformat()
    conn.on_fetch = None
    sync.sync({"mem": conn})
    assert conn.windows[2].start == conn.windows[1].end - timedelta(days=3)


def test_unexpected_connector_bug_does_not_stop_other_sources(engine: Engine) -> None:
    buggy = MemoryConnector("buggy", failures=[KeyError("end_time")])
    healthy = MemoryConnector("healthy", {TODAY: {"a": Decimal(1)}})
    reports = make_engine(engine, FakeTime()).sync({"buggy": buggy, "healthy": healthy})
    assert [r.status for r in reports] == ["failed", "ok"]
    assert "unexpected KeyError" in (reports[0].error or "")


def test_unconfigured_source_is_skipped_without_state(engine: Engine) -> None:
    conn = MemoryConnector("off", configured=False)
    [report] = make_engine(engine, FakeTime()).sync({"off": conn})
    assert report.status == "not configured" and conn.windows == [] and sync_state(engine, "off") is None


def test_success_after_failure_keeps_the_old_error_but_clears_failing(engine: Engine) -> None:
    conn = MemoryConnector("mem", failures=[FatalError("mem", "HTTP 403", "fix it")])
    later = NOW + timedelta(hours=1)
    make_engine(engine, FakeTime()).sync({"mem": conn})
    SyncEngine(engine=engine, clock=fixed_clock(later), sleep=FakeTime().sleep).sync({"mem": conn})
    state = sync_state(engine, "mem")
    assert state is not None and state["last_success_at"] == later and state["last_error_at"] == NOW


@pytest.mark.parametrize("when", [datetime(2026, 3, 1, 0, 0, tzinfo=NOW.tzinfo)])
def test_window_boundaries_are_utc_days(when: datetime) -> None:
    window = plan_window(None, when.date(), SyncPolicy(backfill_days=1))
    assert window == Window(date(2026, 3, 1), date(2026, 3, 2))


def test_connector_may_ask_for_longer_windows(engine: Engine) -> None:
    conn = MemoryConnector("mem")
    conn.max_window_days = 400
    make_engine(engine, FakeTime(), backfill_days=90).sync({"mem": conn})
    assert conn.windows == [Window(TODAY - timedelta(days=89), TODAY + timedelta(days=1))]
