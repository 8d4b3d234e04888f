"""The governance cadence with an injected clock: a simulated week, downtime, failures, claims."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from aispend.core.schedule import parse_schedule
from aispend.core.settings import Settings
from aispend.jobs.catalog import (
    DIGEST,
    EVALUATE,
    MONTHLY_REVIEW,
    QUARTERLY_REVIEW,
    RETENTION,
    ROLLUPS,
    build_job_set,
)
from aispend.jobs.models import STATUS_FAILED, STATUS_HANDED_BACK, STATUS_OK
from aispend.jobs.registry import JobContext, JobHandedBack, JobRegistry
from aispend.jobs.runner import JobBusy, JobNotWired, Runner
from tests.conftest import REPO_ROOT
from tests.notifier import Posts

BERLIN = ZoneInfo("Europe/Berlin")
# Monday 28 December 2026, 00:00 in Berlin: the week holds a Monday digest, and Friday 1 January 2027
# is the first business day of both a month and a quarter.
WEEK_START = datetime(2026, 12, 28, tzinfo=BERLIN).astimezone(UTC)
ALL_JOBS = (EVALUATE, DIGEST, MONTHLY_REVIEW, QUARTERLY_REVIEW, RETENTION, ROLLUPS)


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime, datetime | None]] = []
        self.failing: set[str] = set()

    def body(self, context: JobContext) -> str:
        self.calls.append((context.name, context.now, context.slot))
        if context.name in self.failing:
            raise RuntimeError(f"{context.name} broke")
        return f"{context.name} done"

    def count(self) -> Counter[str]:
        return Counter(name for name, _, _ in self.calls)


def _settings(**overrides: object) -> Settings:
    return Settings(timezone="Europe/Berlin", jobs_sync_stagger_minutes=5, **overrides)  # type: ignore[arg-type]


def _runner(
    engine: Engine,
    clock: FakeClock,
    recorder: Recorder,
    *,
    owner: str = "scheduler:test",
    posts: Posts | None = None,
    settings: Settings | None = None,
) -> Runner:
    settings = settings or _settings()
    registry = JobRegistry()
    for source in ("anthropic", "openai"):
        registry.register_sync_source(source, recorder.body)
    for name in ALL_JOBS:
        registry.register(name, recorder.body)
    return Runner(
        settings=settings,
        engine=engine,
        jobs=build_job_set(settings, registry),
        notifier=posts if posts is not None else Posts(),
        owner=owner,
        clock=clock,
    )


def _advance_until(runner: Runner, clock: FakeClock, end: datetime) -> None:
    """Jump the clock from slot to slot (no waiting) and tick at each."""
    while True:
        wake = runner.next_wakeup()
        assert wake is not None
        if wake >= end:
            clock.now = end
            return
        clock.now = wake
        runner.tick()


def test_a_simulated_week_runs_exactly_the_expected_jobs(engine: Engine) -> None:
    clock, recorder = FakeClock(WEEK_START), Recorder()
    runner = _runner(engine, clock, recorder)
    runner.tick()  # first start: every job's schedule begins now, nothing runs yet
    assert recorder.calls == []

    _advance_until(runner, clock, WEEK_START + timedelta(days=7))

    counts = recorder.count()
    assert counts["sync:anthropic"] == 7 * 24
    assert counts["sync:openai"] == 7 * 24
    # every 15 minutes strictly inside the week (the 00:00 slots at both ends are outside it),
    # plus right after each of the 2 x 168 syncs (at :05 and :10, off the quarter hours)
    assert counts[EVALUATE] == (7 * 96 - 1) + 2 * 7 * 24
    assert counts[RETENTION] == 7
    assert counts[ROLLUPS] == 7
    assert counts[DIGEST] == 1
    assert counts[MONTHLY_REVIEW] == 1
    assert counts[QUARTERLY_REVIEW] == 1
    assert sum(counts.values()) == 168 * 2 + (7 * 96 - 1) + 336 + 7 + 7 + 3

    def local_times(name: str) -> list[datetime]:
        return [now.astimezone(BERLIN).replace(tzinfo=None) for job, now, _ in recorder.calls if job == name]

    assert local_times(DIGEST) == [datetime(2026, 12, 28, 9, 0)]
    assert local_times(MONTHLY_REVIEW) == [datetime(2027, 1, 1, 9, 0)]
    assert local_times(QUARTERLY_REVIEW) == [datetime(2027, 1, 1, 10, 0)]
    assert local_times(RETENTION)[0] == datetime(2026, 12, 28, 3, 30)
    syncs = local_times("sync:anthropic")[:2] + local_times("sync:openai")[:2]
    assert syncs == [
        datetime(2026, 12, 28, 0, 5),
        datetime(2026, 12, 28, 1, 5),
        datetime(2026, 12, 28, 0, 10),
        datetime(2026, 12, 28, 1, 10),
    ]
    # evaluation right after a sync, in the same tick
    order = [job for job, now, _ in recorder.calls if now == WEEK_START + timedelta(minutes=5)]
    assert order == ["sync:anthropic", EVALUATE]
    runs = runner.store.all_runs()
    assert len(runs) == sum(counts.values())
    assert {run.status for run in runs} == {STATUS_OK}
    assert all(run.missed_slots == 0 for run in runs)


def test_a_restart_after_three_days_down_runs_each_missed_job_once(engine: Engine) -> None:
    clock, recorder = FakeClock(WEEK_START), Recorder()
    runner = _runner(engine, clock, recorder)
    runner.tick()
    _advance_until(runner, clock, WEEK_START + timedelta(days=1))
    before = len(recorder.calls)

    # The process dies here; three days later a new one starts against the same database.
    clock.now = WEEK_START + timedelta(days=4, hours=11)  # Friday 11:00: the monthly/quarterly slots are due
    restarted = _runner(engine, clock, recorder, owner="scheduler:second")
    outcomes = restarted.tick()

    caught_up = Counter(name for name, _, _ in recorder.calls[before:])
    assert caught_up == Counter(
        {
            "sync:anthropic": 1,
            "sync:openai": 1,
            EVALUATE: 1,
            RETENTION: 1,
            ROLLUPS: 1,
            MONTHLY_REVIEW: 1,
            QUARTERLY_REVIEW: 1,
        }
    )  # no digest: its only slot (Monday 09:00) ran before the downtime
    by_job = {outcome.job: outcome for outcome in outcomes}
    assert by_job["sync:openai"].missed_slots == 3 * 24 + 11 - 1  # Tue 00:10 .. Fri 10:10
    assert by_job[RETENTION].missed_slots == 3  # Tue, Wed, Thu, Fri 03:30: four slots, one run
    assert by_job[MONTHLY_REVIEW].missed_slots == 0
    # the run stands for the latest missed slot, so the next tick has nothing left to do
    assert by_job[RETENTION].slot == datetime(2027, 1, 1, 3, 30, tzinfo=BERLIN).astimezone(UTC)
    assert restarted.tick() == []


def test_a_failed_job_is_retried_at_its_next_slot_and_the_third_failure_in_a_row_is_posted_once(
    engine: Engine,
) -> None:
    clock, recorder = FakeClock(WEEK_START), Recorder()
    posts = Posts()
    runner = _runner(engine, clock, recorder, posts=posts)
    runner.tick()
    recorder.failing.add("sync:openai")

    _advance_until(runner, clock, WEEK_START + timedelta(hours=5))

    sync_runs = [run for run in runner.store.all_runs() if run.job == "sync:openai"]
    assert [run.status for run in sync_runs] == [STATUS_FAILED] * 5  # once per slot, never re-run at once
    assert all("RuntimeError: sync:openai broke" in (run.error or "") for run in sync_runs)
    alerts = posts.to("admin")
    assert len(alerts) == 1
    assert "`sync:openai` failed 3 times in a row" in alerts[0]
    assert "sync:openai broke" in alerts[0]
    state = runner.store.states()["sync:openai"]
    assert state.consecutive_failures == 5 and state.last_status == STATUS_FAILED
    # a failed sync is not followed by an evaluation; the successful one is
    followers = [run.trigger for run in runner.store.all_runs() if run.job == EVALUATE and run.slot is None]
    assert followers == ["after:sync:anthropic"] * 5

    recorder.failing.clear()
    _advance_until(runner, clock, WEEK_START + timedelta(hours=6))
    state = runner.store.states()["sync:openai"]
    assert state.consecutive_failures == 0 and state.last_status == STATUS_OK


def test_a_job_never_runs_twice_at_the_same_time(engine: Engine) -> None:
    clock, recorder = FakeClock(WEEK_START), Recorder()
    first = _runner(engine, clock, recorder, owner="scheduler:a")
    second = _runner(engine, clock, recorder, owner="cli:b")
    seen: list[str] = []

    def nested(context: JobContext) -> str:
        # While `digest` runs under the first runner, the second one may not start it.
        with pytest.raises(JobBusy, match="already running"):
            second.run_now(DIGEST)
        seen.append(context.name)
        return "ok"

    registry = JobRegistry()
    registry.register(DIGEST, nested)
    first = Runner(
        settings=first.settings,
        engine=engine,
        jobs=build_job_set(first.settings, registry),
        notifier=Posts(),
        owner="scheduler:a",
        clock=clock,
    )
    outcome = first.run_now(DIGEST)
    assert outcome.status == STATUS_OK and seen == [DIGEST]
    # the claim is released afterwards
    assert second.run_now(DIGEST).status == STATUS_OK


def test_a_claim_left_by_a_dead_leader_is_released_by_the_next_leader(engine: Engine) -> None:
    clock, recorder = FakeClock(WEEK_START), Recorder()
    dead = _runner(engine, clock, recorder, owner="scheduler:dead")
    dead.tick()
    clock.now = WEEK_START + timedelta(hours=9, minutes=1)
    slot = datetime(2026, 12, 28, 9, 0, tzinfo=BERLIN)
    # The leader claimed the digest and started it, then died before recording the end.
    dead_run = dead.store.claim_and_start(
        DIGEST,
        owner="scheduler:dead",
        timeout=timedelta(hours=2),
        trigger="schedule",
        slot=slot,
        missed=0,
        started_at=clock.now,
    )
    assert dead_run is not None

    heir = _runner(engine, clock, recorder, owner="scheduler:heir")
    assert all(o.job != DIGEST for o in heir.tick())  # still claimed: not run twice at once
    assert heir.store.release_claims_of_other_schedulers("scheduler:heir") == [DIGEST]
    assert [(o.job, o.slot) for o in heir.tick()] == [(DIGEST, slot)]  # the same slot, run again
    runs = [(run.owner, run.status) for run in heir.store.all_runs() if run.job == DIGEST]
    assert runs == [("scheduler:dead", STATUS_HANDED_BACK), ("scheduler:heir", STATUS_OK)]


def test_a_job_that_hands_back_keeps_its_slot_due(engine: Engine) -> None:
    clock = FakeClock(WEEK_START)
    calls: list[datetime | None] = []

    def body(context: JobContext) -> str:
        calls.append(context.slot)
        if len(calls) == 1:
            raise JobHandedBack("shutdown requested")
        return "done"

    registry = JobRegistry()
    registry.register(DIGEST, body)
    settings = _settings()
    runner = Runner(
        settings=settings,
        engine=engine,
        jobs=build_job_set(settings, registry),
        notifier=Posts(),
        owner="scheduler:x",
        clock=clock,
    )
    runner.tick()
    clock.now = WEEK_START + timedelta(hours=10)
    assert [o.status for o in runner.tick()] == [STATUS_HANDED_BACK]
    assert [o.status for o in runner.tick()] == [STATUS_OK]
    assert calls[0] == calls[1] is not None
    assert runner.tick() == []


def test_unwired_and_unknown_jobs_are_refused_with_a_clear_message(engine: Engine) -> None:
    settings = _settings()
    runner = Runner(
        settings=settings,
        engine=engine,
        jobs=build_job_set(settings, JobRegistry()),
        notifier=Posts(),
        owner="cli:x",
        clock=FakeClock(WEEK_START),
    )
    with pytest.raises(JobNotWired, match="digest"):
        runner.run_now(DIGEST)
    with pytest.raises(KeyError, match="no job named 'nope'"):
        runner.run_now("nope")
    assert runner.tick() == []


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        ("@first-business-day 09:00", datetime(2026, 11, 26), datetime(2026, 12, 1, 9)),  # Tue 1 Dec
        ("@first-business-day 09:00", datetime(2027, 4, 30), datetime(2027, 5, 3, 9)),  # 1 May is a Saturday
        ("@first-business-day-of-quarter 10:00", datetime(2027, 1, 2), datetime(2027, 4, 1, 10)),
        ("0 9 * * mon", datetime(2026, 11, 26), datetime(2026, 11, 30, 9)),
        ("*/20 * * * * *", datetime(2026, 11, 26, 8, 0, 1), datetime(2026, 11, 26, 8, 0, 20)),
    ],
)
def test_schedule_strings(spec: str, after: datetime, expected: datetime) -> None:
    trigger = parse_schedule(spec, BERLIN)
    nxt = trigger.get_next_fire_time(None, after.replace(tzinfo=BERLIN))
    assert nxt == expected.replace(tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0 9 * *", "expected 5 fields"),
        ("0 25 * * *", "invalid cron"),
        ("@monthly", "unknown schedule rule"),
        ("@first-business-day 9h", "HH:MM"),
    ],
)
def test_bad_schedule_strings_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(spec, BERLIN)


def test_every_operations_setting_is_in_env_example_and_the_defaults_parse() -> None:

    example = (REPO_ROOT / ".env.example").read_text()
    ours = [name for name in Settings.model_fields if name.startswith(("jobs_", "ops_", "log_"))]
    assert len(ours) == 23  # the three jobs_landed_* settings of the landed-data trigger included
    missing = [name for name in ours if f"AISPEND_{name.upper()}=" not in example]
    assert missing == []
    settings = Settings()
    registry = JobRegistry()
    registry.register_sync_source("openai", lambda _ctx: None)
    registry.register_sync_source("aws", lambda _ctx: None)
    specs = {spec.name: spec.schedule for spec in build_job_set(settings, registry)}
    assert specs["sync:aws"] == "5 * * * *" and specs["sync:openai"] == "12 * * * *"  # staggered
    overridden = Settings(jobs_sync_crons="openai=0 */6 * * *", jobs_disabled="rollups")  # type: ignore[arg-type]
    specs = {spec.name: spec.schedule for spec in build_job_set(overridden, registry)}
    assert specs["sync:openai"] == "0 */6 * * *" and "rollups" not in specs
