"""provider usage reported by the admin APIs (tokens, no money)

Revision ID: 0003_sync
Revises: 0002_daily_rollups
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = "0003_sync"
down_revision = "0002_daily_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = AutoString
    op.create_table(
        "provider_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", text(length=64), nullable=False),
        sa.Column("natural_key", text(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("provider", text(length=64), nullable=False),
        sa.Column("model", text(length=128), nullable=False),
        sa.Column("sub_account", text(length=128), nullable=False),
        sa.Column("api_key_id", text(length=128), nullable=False),
        sa.Column("service_tier", text(length=32), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("workflow", text(length=128), nullable=False),
        sa.Column("feature", text(length=128), nullable=False),
        sa.Column("team", text(length=128), nullable=False),
        sa.Column("customer", text(length=128), nullable=False),
        sa.Column("ingested_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "natural_key", name="uq_provider_usage_source_key"),
    )
    with op.batch_alter_table("provider_usage", schema=None) as batch_op:
        batch_op.create_index("ix_provider_usage_day", ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("provider_usage", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_usage_day")
    op.drop_table("provider_usage")
