"""Revenue per feature may be split by customer (`aispend ingest revenue`): one figure per month,
feature and customer ("" for the feature's revenue not attributed to a customer).

Revision ID: 0013_feature_revenue_customer
Revises: 0012_alert_message_one_state
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0013_feature_revenue_customer"
down_revision = "0012_alert_message_one_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gov_feature_revenue", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("customer", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False, server_default="")
        )
        batch_op.drop_constraint("uq_gov_feature_revenue", type_="unique")
        batch_op.create_unique_constraint("uq_gov_feature_revenue", ["feature", "customer", "month"])


def downgrade() -> None:
    # Customer rows fold back into their feature's figure only by losing the split: refuse to guess.
    with op.batch_alter_table("gov_feature_revenue", schema=None) as batch_op:
        batch_op.drop_constraint("uq_gov_feature_revenue", type_="unique")
        batch_op.create_unique_constraint("uq_gov_feature_revenue", ["feature", "month"])
        batch_op.drop_column("customer")
