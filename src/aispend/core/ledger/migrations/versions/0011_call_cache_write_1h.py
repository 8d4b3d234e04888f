"""Raw calls keep their one-hour cache writes and their service tier, so re-pricing prices them as billed.

Revision ID: 0011_call_cache_write_1h
Revises: 0010_gov_notification_failed
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011_call_cache_write_1h"
down_revision = "0010_gov_notification_failed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Calls already kept had no split or tier: all their cache writes were five-minute, standard tier.
    with op.batch_alter_table("call_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cache_write_1h_tokens", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("service_tier", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("call_record", schema=None) as batch_op:
        batch_op.drop_column("service_tier")
        batch_op.drop_column("cache_write_1h_tokens")
