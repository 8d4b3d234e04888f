"""A governance notification that cannot be delivered is set aside: when, and why.

Revision ID: 0010_gov_notification_failed
Revises: 0009_slack_seen_request
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0010_gov_notification_failed"
down_revision = "0009_slack_seen_request"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gov_notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("failure", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gov_notification", schema=None) as batch_op:
        batch_op.drop_column("failure")
        batch_op.drop_column("failed_at")
