"""Slack edge: outbox, alert messages, audit

Revision ID: 0006_slack
Revises: 0005_shadow
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = "0006_slack"
down_revision = "0005_shadow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", AutoString(length=255), nullable=False),
        sa.Column("kind", AutoString(length=16), nullable=False),
        sa.Column("channel", AutoString(length=64), nullable=False),
        sa.Column("parent_key", AutoString(length=255), nullable=True),
        sa.Column("text", AutoString(), nullable=False),
        sa.Column("blocks", sa.JSON(), nullable=False),
        sa.Column("file_bytes", sa.LargeBinary(), nullable=True),
        sa.Column("file_name", AutoString(length=255), nullable=True),
        sa.Column("file_title", AutoString(length=255), nullable=True),
        sa.Column("response_url", AutoString(length=2048), nullable=True),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", AutoString(length=2000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("ts", AutoString(length=64), nullable=True),
        sa.Column("sent_channel", AutoString(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_slack_outbox_status", "slack_outbox", ["status", "id"], unique=False)
    op.create_table(
        "slack_alert_message",
        sa.Column("alert_key", AutoString(length=255), nullable=False),
        sa.Column("post_key", AutoString(length=255), nullable=False),
        sa.Column("channel", AutoString(length=64), nullable=False),
        sa.Column("level", AutoString(length=16), nullable=False),
        sa.Column("state", AutoString(length=16), nullable=False),
        sa.Column("acknowledged_by", AutoString(length=64), nullable=True),
        sa.Column("snoozed_until", UTCDateTime(), nullable=True),
        sa.Column("owner", AutoString(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("alert", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("alert_key"),
    )
    op.create_table(
        "slack_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("user_id", AutoString(length=64), nullable=False),
        sa.Column("action", AutoString(length=64), nullable=False),
        sa.Column("target", AutoString(length=255), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_slack_audit_at", "slack_audit", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_slack_audit_at", table_name="slack_audit")
    op.drop_table("slack_audit")
    op.drop_table("slack_alert_message")
    op.drop_index("ix_slack_outbox_status", table_name="slack_outbox")
    op.drop_table("slack_outbox")
