"""The scheduler core: which jobs are due at `now`, running them once each, recording every run.

No wall clock here: `tick(now)` is driven by the service loop (real time) or by a test (a simulated
week). State lives in the database, so a restarted or newly elected process picks up where the last
one stopped: each job whose slots were missed runs once (coalesced), not once per missed slot.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from aispend.core.redact import redact
from aispend.core.schedule import due_slots, next_slot
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, as_utc
from aispend.jobs.catalog import JobSpec, follows
from aispend.jobs.models import STATUS_FAILED, STATUS_HANDED_BACK, STATUS_OK
from aispend.jobs.notify import ADMIN_CHANNEL, Notifier
from aispend.jobs.registry import JobContext, JobHandedBack, as_result, is_sync_job
from aispend.jobs.store import Finish, JobStore

log = logging.getLogger("aispend.jobs")

TRIGGER_SCHEDULE = "schedule"
TRIGGER_MANUAL = "manual"
TRIGGER_LANDED = "landed"  # data landed (jobs/trigger.py)


@dataclass(frozen=True)
class RunOutcome:
    job: str
    status: str
    trigger: str
    slot: datetime | None
    missed_slots: int
    duration_s: float
    summary: str = ""
    error: str | None = None


class JobBusy(Exception):
    """The job is running elsewhere right now."""


class JobNotWired(Exception):
    """The job exists in the schedule but no body is registered for it in this build."""


@dataclass
class Runner:
    settings: Settings
    engine: Engine
    jobs: Sequence[JobSpec]
    notifier: Notifier
    owner: str
    clock: Clock
    stop_requested: Callable[[], bool] = lambda: False
    on_finish: Callable[[RunOutcome], None] = lambda _outcome: None
    monotonic: Callable[[], float] = time.monotonic
    store: JobStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = JobStore(self.engine)
        self._by_name = {spec.name: spec for spec in self.jobs}

    @property
    def claim_timeout(self) -> timedelta:
        return timedelta(minutes=self.settings.jobs_claim_timeout_minutes)

    def spec(self, name: str) -> JobSpec:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise KeyError(f"no job named {name!r} (jobs: {known})") from None

    # --- scheduled work ----------------------------------------------------------------------
    def tick(self) -> list[RunOutcome]:
        """Run every wired job that has a slot due now, once; evaluation also follows a successful sync."""
        now = as_utc(self.clock())
        wired = [spec for spec in self.jobs if spec.wired]
        states = self.store.states()
        missing = [spec.name for spec in wired if spec.name not in states]
        if missing:
            self.store.ensure(missing, baseline=now)
            states = self.store.states()
        outcomes: list[RunOutcome] = []
        for spec in wired:
            if self.stop_requested():
                break
            state = states[spec.name]
            after = as_utc(state.last_slot) if state.last_slot else now
            slot, count = due_slots(spec.trigger, after, now)
            followed = [o.job for o in outcomes if o.status == STATUS_OK and follows(spec.name, o.job)]
            if slot is None and not followed:
                continue
            trigger = TRIGGER_SCHEDULE if slot is not None else f"after:{followed[-1]}"
            outcome = self._run(spec, trigger=trigger, slot=slot, missed=max(count - 1, 0))
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def next_wakeup(self) -> datetime | None:
        """The earliest slot of any wired job after its recorded cursor (for simulations and `jobs list`)."""
        now = as_utc(self.clock())
        states = self.store.states()
        candidates = []
        for spec in self.jobs:
            if not spec.wired:
                continue
            state = states.get(spec.name)
            after = as_utc(state.last_slot) if state and state.last_slot else now
            slot = next_slot(spec.trigger, max(after, now) if state is None else after)
            if slot is not None:
                candidates.append(slot)
        return min(candidates) if candidates else None

    # --- manual work -------------------------------------------------------------------------
    def run_now(self, name: str, *, trigger: str = TRIGGER_MANUAL) -> RunOutcome:
        spec = self.spec(name)
        if not spec.wired:
            raise JobNotWired(f"job {name!r} has no body in this build (see docs/deployment.md, 'Wiring jobs')")
        self.store.ensure([name], baseline=as_utc(self.clock()))
        outcome = self._run(spec, trigger=trigger, slot=None, missed=0)
        if outcome is None:
            state = self.store.states()[name]
            raise JobBusy(f"job {name!r} is already running (claimed by {state.running_owner})")
        return outcome

    # --- one run -----------------------------------------------------------------------------
    def _run(self, spec: JobSpec, *, trigger: str, slot: datetime | None, missed: int) -> RunOutcome | None:
        assert spec.body is not None
        started_at = as_utc(self.clock())
        run_id = self.store.claim_and_start(
            spec.name,
            owner=self.owner,
            timeout=self.claim_timeout,
            trigger=trigger,
            slot=slot,
            missed=missed,
            started_at=started_at,
        )
        if run_id is None:
            log.info("job %s is running elsewhere; skipped", spec.name, extra={"job": spec.name})
            return None
        log.info(
            "job %s started (%s)",
            spec.name,
            trigger,
            extra={
                "job": spec.name,
                "trigger": trigger,
                "slot": slot.isoformat() if slot else None,
                "missed_slots": missed,
            },
        )
        context = JobContext(
            name=spec.name,
            settings=self.settings,
            engine=self.engine,
            now=started_at,
            slot=slot,
            notifier=self.notifier,
            stop_requested=self.stop_requested,
            clock=self.clock,
            log=log,
        )
        begin = self.monotonic()
        try:
            result = as_result(spec.body(context))
            finish = Finish(STATUS_OK, summary=result.summary)
        except JobHandedBack as exc:
            finish = Finish(STATUS_HANDED_BACK, error=redact(str(exc)) or "stopped early; the slot stays due")
        except Exception as exc:
            detail = redact("".join(traceback.format_exception_only(type(exc), exc)).strip())
            finish = Finish(STATUS_FAILED, error=detail)
            log.exception("job %s failed", spec.name, extra={"job": spec.name})
        duration = self.monotonic() - begin
        streak = self.store.finish_run(
            run_id,
            spec.name,
            finish,
            owner=self.owner,
            slot=slot,
            started_at=started_at,
            finished_at=as_utc(self.clock()),
            duration_ms=int(duration * 1000),
        )
        outcome = RunOutcome(spec.name, finish.status, trigger, slot, missed, duration, finish.summary, finish.error)
        log.info(
            "job %s %s in %.2fs",
            spec.name,
            finish.status,
            duration,
            extra={
                "job": spec.name,
                "status": finish.status,
                "duration_s": round(duration, 3),
                "error": finish.error,
            },
        )
        if finish.status == STATUS_FAILED and streak == self.settings.jobs_failure_alert_after:
            self._alert_streak(spec, streak, finish.error or "", slot)
        self.on_finish(outcome)
        return outcome

    def _alert_streak(self, spec: JobSpec, streak: int, error: str, slot: datetime | None) -> None:
        text = (
            f"Job `{spec.name}` failed {streak} times in a row. Last error: {error}\n"
            f"It is retried at its next slot ({spec.schedule}); `aispend jobs list` shows its history."
        )
        key = f"job-failures:{spec.name}:{slot.isoformat() if slot else 'manual'}"
        try:
            self.notifier.post(ADMIN_CHANNEL, text, dedupe_key=key)
        except Exception:
            log.exception("could not post the failure alert for job %s", spec.name, extra={"job": spec.name})


def sync_source_of(job: str) -> str | None:
    return job.split(":", 1)[1] if is_sync_job(job) else None
