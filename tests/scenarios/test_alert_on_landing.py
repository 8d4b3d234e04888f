"""An alert within a minute (issue 15 item 8): data landing pushes a workflow over its red threshold and
`aispend run`'s leader evaluates within seconds, not at the next 15-minute tick. Real database, the
real slack_sdk client against the local fake Slack; the trigger's clock is injected (no sleeping)."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from aispend.app import build_registry, slack_edge
from aispend.connectors.files.calls import import_calls
from aispend.connectors.files.readers import SourceRow
from aispend.core.governance import store
from aispend.core.rules.findings import Scope
from aispend.core.rules.thresholds import Threshold
from aispend.jobs.leader import SingleProcessLeadership
from aispend.jobs.service import Service
from aispend.jobs.trigger import LandedTrigger
from tests.fakes.slack_api import FakeSlack
from tests.scenarios.test_wiring_governance import NOW, QUIET_SETTINGS, seed
from tests.slack_builders import slack_settings

QUIET = {**QUIET_SETTINGS, "share_red_pct": "100", "share_yellow_pct": "100"}  # only the threshold speaks
EVALUATE_TICK_SECONDS = 15 * 60


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def land(engine: Engine, key: str, cost: str, count: int = 1) -> None:
    """A file import in "another process": it only writes the ledger, it tells no one."""
    rows = []
    for n in range(count):
        fields: dict[str, Any] = {
            "call_id": f"{key}-{n}",
            "timestamp": "2026-11-05T17:00:00Z",
            "provider": "openai",
            "model": "gpt-4o",
            "cost": cost,
            "workflow": "big",
        }
        rows.append(SourceRow("calls.jsonl", n + 1, fields))
    summary = import_calls(engine, rows, now=NOW)
    assert summary.inserted == count


def red_posts(fake: FakeSlack) -> list[str]:
    return [c.body["text"] for c in fake.of("chat.postMessage") if c.body["text"].startswith("Red alert")]


def test_a_file_import_over_the_red_threshold_alerts_once_within_seconds(engine: Engine, fake_slack: FakeSlack) -> None:
    seed(engine)  # `big`: $400 this month; a forecast of $3,000 stays under both levels
    with Session(engine) as session:
        rule = Threshold(Scope("workflow", "big"), "month", Decimal(5000), Decimal(6000), "USD")
        store.set_threshold(session, rule, actor="cfo", now=NOW)
        session.commit()
    settings = slack_settings(fake_slack.api_url, jobs_landed_debounce_seconds=5, jobs_landed_poll_seconds=5, **QUIET)
    edge = slack_edge(settings, engine, lambda: NOW)
    clock = Monotonic()
    service = Service(
        settings=settings,
        engine=engine,
        registry=build_registry(settings, edge, lambda: NOW),
        notifier=edge.notifier,
        clock=lambda: NOW,
        leadership=SingleProcessLeadership(),
        monotonic=clock,
    )
    service.poll_leadership()
    trigger = service.trigger
    assert not trigger.step()  # the marker's baseline: nothing has landed yet

    land(engine, "c-big-1", "900", 7)  # $6,700 this month: over the red level
    landed_at = clock.t
    clock.t += settings.jobs_landed_poll_seconds
    assert not trigger.step()  # the poll sees the new call: the debounce window opens
    assert red_posts(fake_slack) == []
    clock.t += settings.jobs_landed_debounce_seconds
    assert trigger.step()  # the window closed: evaluate and deliver
    [alert] = red_posts(fake_slack)
    assert alert.startswith("Red alert: workflow big over its monthly threshold")
    elapsed = clock.t - landed_at
    assert elapsed <= 10 < 60 < EVALUATE_TICK_SECONDS

    posts = len(fake_slack.of("chat.postMessage"))
    land(engine, "c-big-2", "10")  # a second landing: evaluated again, nothing re-sent
    clock.t += settings.jobs_landed_poll_seconds
    trigger.step()
    clock.t += settings.jobs_landed_debounce_seconds
    assert trigger.step()
    assert len(fake_slack.of("chat.postMessage")) == posts and len(red_posts(fake_slack)) == 1
    assert trigger.runs == 2


def test_landings_in_a_window_coalesce_and_the_delay_is_bounded() -> None:
    clock = Monotonic()
    runs: list[float] = []
    trigger = LandedTrigger(lambda: runs.append(clock.t), debounce=5, max_delay=12, monotonic=clock)
    start = clock.t
    for _ in range(4):  # a batch every 3 s: each pushes the run back, never past 12 s after the first
        trigger.landed("otlp")
        clock.t += 3
        trigger.step()
    assert runs == [start + 12]
    clock.t += 100
    assert not trigger.step() and runs == [start + 12]  # nothing landed since


def test_a_follower_drops_its_landings_and_the_worker_thread_runs_on_an_event() -> None:
    follower = LandedTrigger(lambda: None, debounce=0, max_delay=0, is_leader=lambda: False)
    follower.landed("otlp")
    assert not follower.step() and follower.runs == 0

    ran = threading.Event()
    trigger = LandedTrigger(ran.set, debounce=0, max_delay=0)
    trigger.start()
    try:
        trigger.landed("otlp")
        assert ran.wait(10)  # a real event: the worker wakes on the landing, it does not wait for a tick
    finally:
        trigger.stop()
