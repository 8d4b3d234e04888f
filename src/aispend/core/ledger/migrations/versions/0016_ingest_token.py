"""Bearer tokens of the live ingest endpoints (OTLP traces and plain JSON calls), stored hashed.

Revision ID: 0016_ingest_token
Revises: 0015_ingest_batch
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0016_ingest_token"
down_revision = "0015_ingest_batch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_token",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("workflow", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("team", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("customer", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_batch_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("spans_accepted", sa.BigInteger(), nullable=False),
        sa.Column("spans_refused", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("ingest_token")
