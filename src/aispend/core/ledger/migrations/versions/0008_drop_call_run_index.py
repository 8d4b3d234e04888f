"""Drop the run-id index on raw calls: nothing reads raw calls by run (agent_run holds runs), and
every index costs every insert.

Revision ID: 0008_drop_call_run_index
Revises: 0007_jobs
"""

from __future__ import annotations

from alembic import op

revision = "0008_drop_call_run_index"
down_revision = "0007_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_record", schema=None) as batch_op:
        batch_op.drop_index("ix_call_record_run")


def downgrade() -> None:
    with op.batch_alter_table("call_record", schema=None) as batch_op:
        batch_op.create_index("ix_call_record_run", ["run_id"], unique=False)
