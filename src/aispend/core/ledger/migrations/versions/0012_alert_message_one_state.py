"""An alert's acknowledgement and snooze are kept once, in gov_alert_state: the Slack alert message keeps
only what it needs to be updated (its post, channel, level shown, revision, owner, payload).

Revision ID: 0012_alert_message_one_state
Revises: 0011_call_cache_write_1h
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = "0012_alert_message_one_state"
down_revision = "0011_call_cache_write_1h"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Governance's alert state was written in the same transaction as these columns (every Slack ack and
    # snooze went to both), so dropping them loses nothing.
    with op.batch_alter_table("slack_alert_message", schema=None) as batch_op:
        batch_op.drop_column("snoozed_until")
        batch_op.drop_column("acknowledged_by")
        batch_op.drop_column("state")


def downgrade() -> None:
    with op.batch_alter_table("slack_alert_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", AutoString(length=16), nullable=False, server_default="open"))
        batch_op.add_column(sa.Column("acknowledged_by", AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("snoozed_until", UTCDateTime(), nullable=True))
