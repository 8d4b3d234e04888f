"""Slack edge: signatures of requests let through, so that a replay is applied once

Revision ID: 0009_slack_seen_request
Revises: 0008_drop_call_run_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = "0009_slack_seen_request"
down_revision = "0008_drop_call_run_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_seen_request",
        sa.Column("signature", AutoString(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("signature"),
    )
    op.create_index("ix_slack_seen_request_expires", "slack_seen_request", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_slack_seen_request_expires", table_name="slack_seen_request")
    op.drop_table("slack_seen_request")
