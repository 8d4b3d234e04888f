"""operations: job state and job run history

Revision ID: 0007_jobs
Revises: 0006_slack
Create Date: 2026-11-26 20:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = "0007_jobs"
down_revision = "0006_slack"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc, text = UTCDateTime, AutoString
    op.create_table(
        "job_state",
        sa.Column("name", text(length=128), nullable=False),
        sa.Column("last_slot", utc(), nullable=True),
        sa.Column("last_status", text(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_summary", text(length=1024), nullable=True),
        sa.Column("last_started_at", utc(), nullable=True),
        sa.Column("last_finished_at", utc(), nullable=True),
        sa.Column("last_success_at", utc(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("running_owner", text(length=128), nullable=True),
        sa.Column("running_until", utc(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", text(length=128), nullable=False),
        sa.Column("slot", utc(), nullable=True),
        sa.Column("trigger", text(length=160), nullable=False),
        sa.Column("missed_slots", sa.Integer(), nullable=False),
        sa.Column("owner", text(length=128), nullable=False),
        sa.Column("status", text(length=16), nullable=False),
        sa.Column("started_at", utc(), nullable=False),
        sa.Column("finished_at", utc(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("summary", text(length=1024), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_run_job_started", "job_run", ["job", "started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_job_run_job_started", table_name="job_run")
    op.drop_table("job_run")
    op.drop_table("job_state")
