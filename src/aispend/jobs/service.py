"""`aispend run`: one process with the scheduler, the Slack app (when wired) and the ops endpoints.

APScheduler 3.x paces two things: the leader poll and the scheduler tick. The jobs' own schedule,
their run records and the coalescing of missed slots live in the database (runner.py), so that a
restart or a fail-over to another replica continues exactly where the last leader stopped.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, text

from aispend.core.ledger.calls import last_call_id
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, system_clock
from aispend.jobs.catalog import EVALUATE, build_job_set
from aispend.jobs.leader import Leadership, leadership_for
from aispend.jobs.metrics import MetricFeeds, OpsMetrics
from aispend.jobs.notify import Notifier
from aispend.jobs.ops_http import OpsServer
from aispend.jobs.registry import JobRegistry
from aispend.jobs.runner import TRIGGER_LANDED, JobBusy, JobNotWired, Runner, RunOutcome
from aispend.jobs.store import SCHEDULER_OWNER_PREFIX
from aispend.jobs.trigger import LandedTrigger

log = logging.getLogger("aispend.run")
HOUSEKEEPING_SECONDS = 60

# The Slack app's entry: runs until the event is set (Socket Mode client or HTTP listener).
Serve = Callable[[threading.Event], None]


def new_owner() -> str:
    return f"{SCHEDULER_OWNER_PREFIX}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Service:
    settings: Settings
    engine: Engine
    registry: JobRegistry
    notifier: Notifier
    serve: Serve | None = None
    clock: Clock = system_clock
    feeds: MetricFeeds = field(default_factory=MetricFeeds)
    leadership: Leadership | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    housekeeping: Callable[[], object] | None = None  # e.g. the Slack outbox retry, every minute on the leader
    monotonic: Callable[[], float] = time.monotonic  # the landed trigger's clock (jobs/trigger.py)

    def __post_init__(self) -> None:
        self.owner = new_owner()
        self.leadership = self.leadership or leadership_for(self.engine)
        self.metrics = OpsMetrics(self.engine, self.clock, self.feeds)
        self.jobs = build_job_set(self.settings, self.registry)
        self.runner = Runner(
            settings=self.settings,
            engine=self.engine,
            jobs=self.jobs,
            notifier=self.notifier,
            owner=self.owner,
            clock=self.clock,
            stop_requested=self._should_stop,
            on_finish=self._finished,
        )
        self._idle = threading.Event()
        self._idle.set()
        self._was_leader = False
        self.ops: OpsServer | None = None
        settings = self.settings
        self.trigger = LandedTrigger(
            self.evaluate_landed,
            debounce=settings.jobs_landed_debounce_seconds,
            max_delay=settings.jobs_landed_max_delay_seconds,
            is_leader=lambda: self._was_leader and not self.stop.is_set(),
            marker=self.newest_call_id,
            poll_seconds=settings.jobs_landed_poll_seconds,
            monotonic=self.monotonic,
        )

    # --- data landed -----------------------------------------------------------------------
    def landed(self, source: str, **detail: object) -> None:
        """The callable a live path in this process (the receiver's on_landed) calls after committing:
        the leader evaluates within AISPEND_JOBS_LANDED_DEBOUNCE_SECONDS (jobs/trigger.py)."""
        self.trigger.landed(source, **detail)

    def newest_call_id(self) -> int:
        """The cheap "ledger changed" marker: what another process lands moves it."""
        with self.engine.connect() as conn:
            return last_call_id(conn)

    def evaluate_landed(self) -> None:
        """The evaluate job now (recorded as a run with trigger "landed"); if it is running already,
        it may have started before the data landed: try again after the window."""
        try:
            self.runner.run_now(EVALUATE, trigger=TRIGGER_LANDED)
        except JobBusy:
            self.trigger.landed("retry")
        except (JobNotWired, KeyError):
            log.info("the evaluate job is not wired or is disabled here: landed data waits for it")

    # --- the two paced activities ----------------------------------------------------------
    def _should_stop(self) -> bool:
        assert self.leadership is not None
        return self.stop.is_set() or not self.leadership.is_leader

    def _finished(self, outcome: RunOutcome) -> None:
        self.metrics.observe(outcome)

    def poll_leadership(self) -> None:
        assert self.leadership is not None
        leader = self.leadership.poll()
        self.metrics.leader.set(1 if leader else 0)
        if leader and not self._was_leader:
            released = self.runner.store.release_claims_of_other_schedulers(self.owner)
            log.info("leading the scheduled jobs", extra={"owner": self.owner, "handed_back": released or None})
        elif not leader and self._was_leader:
            log.warning("no longer the leader; scheduled jobs pause here", extra={"owner": self.owner})
        self._was_leader = leader

    def tick(self) -> None:
        if self.stop.is_set() or not self._was_leader:
            return
        self._idle.clear()
        try:
            self.runner.tick()
        except Exception:
            log.exception("scheduler tick failed (retried at the next tick)")
        finally:
            self._idle.set()

    def _housekeep(self) -> None:
        if self.stop.is_set() or not self._was_leader or self.housekeeping is None:
            return
        try:
            self.housekeeping()
        except Exception:
            log.exception("housekeeping failed (retried in a minute)")

    # --- health ----------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        detail: dict[str, Any] = {"leader": self._was_leader, "stopping": self.stop.is_set()}
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            detail["database"] = "ok"
        except Exception as exc:
            detail["database"] = f"unavailable: {exc.__class__.__name__}"
        ok = detail["database"] == "ok" and not self.stop.is_set()
        detail["status"] = "ok" if ok else "unavailable"
        return ok, detail

    # --- lifecycle -------------------------------------------------------------------------
    def run(self, install_signals: bool = True) -> int:
        """Block until stopped (SIGTERM/SIGINT or `stop` set); returns the exit code."""
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda signum, _frame: self._request_stop(signum))
        settings = self.settings
        if settings.ops_port is not None:
            self.ops = OpsServer(settings.ops_host, settings.ops_port, self.metrics.registry, self.health)
            self.ops.start()
            log.info(
                "ops endpoints on http://%s:%d (/healthz, /metrics)",
                settings.ops_host,
                self.ops.port,
                extra={"ops_port": self.ops.port},
            )
        serve_thread = None
        if self.serve is not None:
            serve_thread = threading.Thread(target=self.serve, args=(self.stop,), name="slack", daemon=True)
            serve_thread.start()
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(2)},
            timezone=settings.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        now = self.clock()
        scheduler.add_job(
            self.poll_leadership,
            "interval",
            seconds=settings.jobs_lock_poll_seconds,
            next_run_time=now,
            id="leader-poll",
        )
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=settings.jobs_tick_seconds,
            next_run_time=now + timedelta(seconds=min(1.0, settings.jobs_tick_seconds)),
            id="tick",
        )
        if self.housekeeping is not None:
            scheduler.add_job(self._housekeep, "interval", seconds=HOUSEKEEPING_SECONDS, id="housekeeping")
        scheduler.start()
        self.trigger.start()
        log.info(
            "scheduler started: %d jobs (%d wired), time zone %s",
            len(self.jobs),
            sum(1 for j in self.jobs if j.wired),
            settings.timezone,
            extra={"owner": self.owner},
        )
        self.stop.wait()
        return self._shutdown(scheduler, serve_thread)

    def _request_stop(self, signum: int) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.stop.set()

    def _shutdown(self, scheduler: BackgroundScheduler, serve_thread: threading.Thread | None) -> int:
        grace = self.settings.jobs_shutdown_grace_seconds
        scheduler.pause()
        self.trigger.stop(grace)
        finished = self._idle.wait(grace)
        code = 0
        if not finished:
            log.error("a job was still running after %.0fs; handing it back (its slot stays due)", grace)
            code = 3
        scheduler.shutdown(wait=False)
        assert self.leadership is not None
        if finished:
            self.leadership.release()
        if self.ops is not None:
            self.ops.stop()
        if serve_thread is not None:
            serve_thread.join(timeout=5)
        log.info("stopped", extra={"exit_code": code})
        return code
