"""Job state and run records in the database: the claim, the slot cursor, the failure streak.

Every write is its own short transaction, so a crash leaves at most one run marked "running" and a
claim that expires (or that the next leader releases, since the old leader is gone by then).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from aispend.jobs.models import STATUS_HANDED_BACK, STATUS_OK, STATUS_RUNNING, JobRun, JobState

MAX_ERROR_CHARS = 4000
SCHEDULER_OWNER_PREFIX = "scheduler:"


@dataclass(frozen=True)
class Finish:
    status: str
    summary: str = ""
    error: str | None = None


class JobStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- state ---------------------------------------------------------------------------------
    def ensure(self, names: Iterable[str], baseline: datetime) -> None:
        """A state row for each job; a job seen for the first time starts its schedule at `baseline`."""
        rows = [{"name": name, "last_slot": baseline, "consecutive_failures": 0} for name in names]
        if not rows:
            return
        dialect = self.engine.dialect.name
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = upsert(JobState).values(rows).on_conflict_do_nothing(index_elements=["name"])
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def states(self) -> dict[str, JobState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(JobState)).all()
        return {row.name: JobState.model_validate(row._mapping) for row in rows}

    # --- the claim: a job never runs twice at the same time ---------------------------------------
    def _claim_stmt(self, name: str, owner: str, now: datetime, timeout: timedelta) -> Any:
        return (
            update(JobState)
            .where(
                and_(
                    col(JobState.name) == name,
                    or_(col(JobState.running_owner).is_(None), col(JobState.running_until) < now),
                )
            )
            .values(running_owner=owner, running_until=now + timeout)
        )

    def claim(self, name: str, owner: str, now: datetime, timeout: timedelta) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(self._claim_stmt(name, owner, now, timeout)).rowcount == 1)

    def release_claims_of_other_schedulers(self, own: str) -> list[str]:
        """On becoming leader: the previous leader is gone (it lost the lock), so its claims are void."""
        with self.engine.begin() as conn:
            names = (
                conn.execute(
                    select(col(JobState.name)).where(
                        col(JobState.running_owner).like(f"{SCHEDULER_OWNER_PREFIX}%"),
                        col(JobState.running_owner) != own,
                    )
                )
                .scalars()
                .all()
            )
            if names:
                conn.execute(
                    update(JobState).where(col(JobState.name).in_(names)).values(running_owner=None, running_until=None)
                )
                conn.execute(
                    update(JobRun)
                    .where(col(JobRun.job).in_(names), col(JobRun.status) == STATUS_RUNNING)
                    .values(status=STATUS_HANDED_BACK, error="owner stopped before finishing")
                )
        return list(names)

    # --- runs ----------------------------------------------------------------------------------
    def claim_and_start(
        self,
        name: str,
        *,
        owner: str,
        timeout: timedelta,
        trigger: str,
        slot: datetime | None,
        missed: int,
        started_at: datetime,
    ) -> int | None:
        """Claim the job and record the run in one transaction; None when it is claimed elsewhere."""
        run = JobRun(
            job=name,
            slot=slot,
            trigger=trigger,
            missed_slots=missed,
            owner=owner,
            status=STATUS_RUNNING,
            started_at=started_at,
        )
        with self.engine.begin() as conn:
            claimed = conn.execute(
                self._claim_stmt(name, owner, started_at, timeout).values(last_started_at=started_at)
            )
            if claimed.rowcount != 1:
                return None
            result = conn.execute(insert(JobRun).values(**run.model_dump(exclude={"id"})).returning(col(JobRun.id)))
            run_id = result.scalar_one()
            assert run_id is not None
        return run_id

    def finish_run(
        self,
        run_id: int,
        name: str,
        finish: Finish,
        *,
        owner: str,
        slot: datetime | None,
        started_at: datetime,
        finished_at: datetime,
        duration_ms: int,
    ) -> int:
        """Record the end of a run and release the claim; returns the failure streak after this run."""
        error = finish.error[:MAX_ERROR_CHARS] if finish.error else None
        summary = finish.summary[:1024] if finish.summary else None
        with self.engine.begin() as conn:
            conn.execute(
                update(JobRun)
                .where(col(JobRun.id) == run_id)
                .values(
                    status=finish.status,
                    finished_at=finished_at,
                    duration_ms=duration_ms,
                    summary=summary,
                    error=error,
                )
            )
            state = conn.execute(select(JobState).where(col(JobState.name) == name)).one()
            values: dict[str, object] = {"running_owner": None, "running_until": None}
            streak = int(state.consecutive_failures)
            if finish.status != STATUS_HANDED_BACK:
                streak = 0 if finish.status == STATUS_OK else streak + 1
                values.update(
                    last_status=finish.status,
                    last_error=error,
                    last_summary=summary,
                    last_finished_at=finished_at,
                    consecutive_failures=streak,
                )
                if finish.status == STATUS_OK:
                    values["last_success_at"] = finished_at
                # A failed slot is not retried at once: it is retried at the job's next slot.
                if slot is not None and (state.last_slot is None or slot > state.last_slot):
                    values["last_slot"] = slot
            conn.execute(
                update(JobState)
                .where(col(JobState.name) == name, col(JobState.running_owner) == owner)
                .values(**values)
            )
        return streak

    def recent_runs(self, name: str | None = None, limit: int = 50) -> Sequence[JobRun]:
        stmt = select(JobRun).order_by(col(JobRun.id).desc()).limit(limit)
        if name is not None:
            stmt = stmt.where(col(JobRun.job) == name)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [JobRun.model_validate(row._mapping) for row in rows]

    def all_runs(self) -> Sequence[JobRun]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(JobRun).order_by(col(JobRun.id))).all()
        return [JobRun.model_validate(row._mapping) for row in rows]
