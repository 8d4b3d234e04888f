"""Runs are read by day range (and workflow) by every report and evaluation: index them that way.

Revision ID: 0013_agent_run_day_index
Revises: 0012_alert_message_one_state
"""

from __future__ import annotations

from alembic import op

revision = "0013_agent_run_day_index"
down_revision = "0012_alert_message_one_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_agent_run_day_workflow", "agent_run", ["day", "workflow"])


def downgrade() -> None:
    op.drop_index("ix_agent_run_day_workflow", table_name="agent_run")
