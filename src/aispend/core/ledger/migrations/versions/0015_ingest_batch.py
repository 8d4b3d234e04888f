"""The live ingest log: one row per batch a live path landed (streaming import, receiver), for
`aispend status` and /metrics.

Revision ID: 0015_ingest_batch
Revises: 0014_feature_revenue_customer
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0015_ingest_batch"
down_revision = "0014_feature_revenue_customer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("token_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("refused", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ingest_batch_received_at", "ingest_batch", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ingest_batch_received_at", table_name="ingest_batch")
    op.drop_table("ingest_batch")
