"""Revenue per feature may be split by customer (`aispend ingest revenue`): one figure per month,
feature and customer ("" for the feature's revenue not attributed to a customer).

Revision ID: 0014_feature_revenue_customer
Revises: 0013_agent_run_day_index
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0014_feature_revenue_customer"
down_revision = "0013_agent_run_day_index"
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
    # Fails while a feature has rows for two customers in one month: merge or delete them first.
    with op.batch_alter_table("gov_feature_revenue", schema=None) as batch_op:
        batch_op.drop_constraint("uq_gov_feature_revenue", type_="unique")
        batch_op.create_unique_constraint("uq_gov_feature_revenue", ["feature", "month"])
        batch_op.drop_column("customer")
