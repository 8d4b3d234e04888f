"""Governance tables: thresholds (and their audit trail), alert state, notifications (the outbox
the Slack bot delivers from), and optional revenue per feature for unit economics."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from aispend.core.ledger.models import money_field


class Threshold(SQLModel, table=True):
    __tablename__ = "gov_threshold"
    __table_args__ = (UniqueConstraint("scope_kind", "scope_key", "period_kind", name="uq_gov_threshold_scope"),)

    id: int | None = Field(default=None, primary_key=True)
    scope_kind: str = Field(max_length=16)  # company | team | workflow | provider | model
    scope_key: str = Field(default="", max_length=128)
    period_kind: str = Field(default="month", max_length=8)  # month | week
    yellow: Decimal | None = money_field(nullable=True)
    red: Decimal | None = money_field(nullable=True)
    currency: str = Field(max_length=3)
    updated_by: str = Field(default="", max_length=128)
    updated_at: datetime


class ThresholdAudit(SQLModel, table=True):
    """Every change to a threshold: who, when, before and after (JSON, amounts as decimal strings)."""

    __tablename__ = "gov_threshold_audit"

    id: int | None = Field(default=None, primary_key=True)
    scope_kind: str = Field(max_length=16)
    scope_key: str = Field(default="", max_length=128)
    period_kind: str = Field(max_length=8)
    action: str = Field(max_length=8)  # set | remove
    actor: str = Field(max_length=128)
    at: datetime
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class AlertState(SQLModel, table=True):
    """The current level per (rule, scope, period), with ack, snooze and escalation."""

    __tablename__ = "gov_alert_state"
    __table_args__ = (UniqueConstraint("rule", "scope_kind", "scope_key", "period", name="uq_gov_alert_state_key"),)

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=64)
    scope_kind: str = Field(max_length=16)
    scope_key: str = Field(default="", max_length=128)
    period: str = Field(max_length=64)
    level: str = Field(max_length=8)
    basis: str = Field(default="actual", max_length=8)
    summary: str = Field(default="", max_length=2000)
    numbers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    since: datetime
    evaluated_at: datetime
    acked_by: str | None = Field(default=None, max_length=128)
    acked_at: datetime | None = None
    snoozed_until: datetime | None = None
    escalated_at: datetime | None = None


class Notification(SQLModel, table=True):
    """A notification to deliver; the unique dedupe key makes each (rule, scope, period, level) exist once."""

    __tablename__ = "gov_notification"
    __table_args__ = (Index("ix_gov_notification_undelivered", "delivered_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=400, unique=True)
    kind: str = Field(max_length=16)  # alert | recovery | escalation | reminder
    audience: str = Field(max_length=16)  # owners | leadership
    rule: str = Field(max_length=64)
    scope_kind: str = Field(max_length=16)
    scope_key: str = Field(default="", max_length=128)
    period: str = Field(max_length=64)
    level: str = Field(max_length=8)
    previous_level: str | None = Field(default=None, max_length=8)
    owner: str = Field(default="", max_length=128)  # the workflow owner when known (Slack id or e-mail)
    title: str = Field(max_length=300)
    text: str = Field(max_length=2000)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime
    delivered_at: datetime | None = None
    delivery_ref: str | None = Field(default=None, max_length=256)  # e.g. the Slack channel and ts
    # Set aside: it could not be turned into a message (e.g. a payload this version cannot read). It is
    # reported once and no longer pending, so it never blocks the others nor fails every later run.
    failed_at: datetime | None = None
    failure: str | None = Field(default=None, max_length=1000)  # why, in one line


class FeatureRevenue(SQLModel, table=True):
    """Optional monthly AI revenue (and gross margin) per feature, and per customer when the file
    splits it ("" = not attributed to a customer), for unit economics. Amounts in their own currency,
    converted when read (`core.governance.revenue`)."""

    __tablename__ = "gov_feature_revenue"
    __table_args__ = (UniqueConstraint("feature", "customer", "month", name="uq_gov_feature_revenue"),)

    id: int | None = Field(default=None, primary_key=True)
    feature: str = Field(max_length=128)
    customer: str = Field(default="", max_length=128, sa_column_kwargs={"server_default": ""})
    month: date  # first day of the month
    revenue: Decimal = money_field()
    gross_margin: Decimal | None = money_field(nullable=True)  # gross margin in money, not percent
    currency: str = Field(max_length=3)
    updated_at: datetime
