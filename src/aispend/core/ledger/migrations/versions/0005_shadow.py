"""shadow AI: expense and card lines

Revision ID: 0005_shadow
Revises: 0004_governance
Create Date: 2026-11-26 20:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

import aispend.core.ledger.types

revision = "0005_shadow"
down_revision = "0004_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = AutoString
    money = aispend.core.ledger.types.MoneyAmount(precision=38, scale=12)
    op.create_table(
        "shadow_expense",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", text(length=32), nullable=False),
        sa.Column("natural_key", text(length=128), nullable=False),
        sa.Column("transaction_id", text(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("amount", money, nullable=False),
        sa.Column("currency", text(length=3), nullable=False),
        sa.Column("company_amount", money, nullable=False),
        sa.Column("company_currency", text(length=3), nullable=False),
        sa.Column("descriptor", text(length=256), nullable=False),
        sa.Column("merchant", text(length=256), nullable=False),
        sa.Column("employee", text(length=256), nullable=False),
        sa.Column("email", text(length=256), nullable=False),
        sa.Column("department", text(length=128), nullable=False),
        sa.Column("category", text(length=256), nullable=False),
        sa.Column("gl_code", text(length=64), nullable=False),
        sa.Column("memo", text(length=1024), nullable=False),
        sa.Column("report_id", text(length=128), nullable=False),
        sa.Column("card", text(length=128), nullable=False),
        sa.Column("paid_by", text(length=16), nullable=False),
        sa.Column("kind", text(length=16), nullable=False),
        sa.Column("mcc", text(length=8), nullable=False),
        sa.Column("file", text(length=256), nullable=False),
        sa.Column("file_row", sa.Integer(), nullable=False),
        sa.Column("ingested_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "natural_key", name="uq_shadow_expense_source_key"),
    )
    with op.batch_alter_table("shadow_expense", schema=None) as batch_op:
        batch_op.create_index("ix_shadow_expense_day", ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shadow_expense", schema=None) as batch_op:
        batch_op.drop_index("ix_shadow_expense_day")
    op.drop_table("shadow_expense")
