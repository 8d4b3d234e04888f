"""Run records of scheduled jobs: what ran, when, for which slot, and how it ended.

`job_state` holds one row per job: the last slot handled (the restart-safe cursor), the failure
streak and the claim that keeps a job from running twice at once. `job_run` is the history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

STATUS_RUNNING = "running"
STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_HANDED_BACK = "handed_back"  # stopped (shutdown, lost leadership) before finishing; the slot stays due


class JobState(SQLModel, table=True):
    __tablename__ = "job_state"

    name: str = Field(primary_key=True, max_length=128)
    # Slots up to and including this one are handled; the first sight of a job sets it to "now".
    last_slot: datetime | None = None
    last_status: str | None = Field(default=None, max_length=16)
    last_error: str | None = Field(default=None, sa_type=Text)
    last_summary: str | None = Field(default=None, max_length=1024)
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = Field(default=0)
    # The claim: who runs the job now, and until when the claim holds if its owner disappears.
    running_owner: str | None = Field(default=None, max_length=128)
    running_until: datetime | None = None


class JobRun(SQLModel, table=True):
    __tablename__ = "job_run"
    __table_args__ = (Index("ix_job_run_job_started", "job", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=128)
    slot: datetime | None = None  # the scheduled slot this run stands for (None for manual runs)
    trigger: str = Field(max_length=160)  # schedule | manual | after:<job>
    missed_slots: int = Field(default=0)  # slots coalesced into this run beyond the first (downtime)
    owner: str = Field(max_length=128)
    status: str = Field(max_length=16)
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: int | None = None
    summary: str | None = Field(default=None, max_length=1024)
    error: str | None = Field(default=None, sa_type=Text)
