"""Tables of the Slack edge: the outbox, the alert messages it posted, the audit of changes from Slack."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

# Outbox row kinds.
KIND_POST = "post"  # chat.postMessage (a thread reply when parent_key is set)
KIND_UPDATE = "update"  # chat.update of the message sent by parent_key
KIND_UPLOAD = "upload"  # files_upload_v2 (a PNG chart)
KIND_RESPOND = "respond"  # POST to a slash command's response_url

# Outbox row states.
PENDING = "pending"  # written, not yet sent
SENDING = "sending"  # claimed by a sender: on restart, Slack is asked whether it arrived
SENT = "sent"
FAILED = "failed"  # a permanent error (e.g. channel_not_found): kept for `aispend outbox`


class OutboxMessage(SQLModel, table=True):
    """One message to Slack, written before it is sent. Unique per idempotency key."""

    __tablename__ = "slack_outbox"
    __table_args__ = (Index("ix_slack_outbox_status", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=255, unique=True)
    kind: str = Field(max_length=16)
    channel: str = Field(default="", max_length=64)
    parent_key: str | None = Field(default=None, max_length=255)  # thread parent / message to update
    text: str = Field(default="")
    blocks: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    file_bytes: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    file_name: str | None = Field(default=None, max_length=255)
    file_title: str | None = Field(default=None, max_length=255)
    response_url: str | None = Field(default=None, max_length=2048)
    status: str = Field(default=PENDING, max_length=16)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    ts: str | None = Field(default=None, max_length=64)  # Slack's ts of the posted message
    sent_channel: str | None = Field(default=None, max_length=64)  # channel id Slack answered with


class AlertMessage(SQLModel, table=True):
    """The one Slack message of an alert: later level changes update it (by outbox key), never post anew."""

    __tablename__ = "slack_alert_message"

    alert_key: str = Field(primary_key=True, max_length=255)  # the governance notification's dedupe key
    post_key: str = Field(max_length=255)  # outbox key of the original message
    channel: str = Field(max_length=64)
    level: str = Field(max_length=16)  # yellow | red | recovered
    # Acknowledged or snoozed: the governance alert state (gov_alert_state), never kept here as well.
    owner: str = Field(default="", max_length=128)
    revision: int = Field(default=0)  # bumped per change; part of each update's idempotency key
    alert: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime


class AuditEntry(SQLModel, table=True):
    """Every change made from Slack: who, what, before, after."""

    __tablename__ = "slack_audit"
    __table_args__ = (Index("ix_slack_audit_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    user_id: str = Field(max_length=64)
    action: str = Field(max_length=64)
    target: str = Field(max_length=255)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class SeenRequest(SQLModel, table=True):
    """The signature of a Slack request that was let through, until Slack's 5-minute window for its
    timestamp is over: a replay of it is answered 200 and applied no second time (bot/replay.py)."""

    __tablename__ = "slack_seen_request"
    __table_args__ = (Index("ix_slack_seen_request_expires", "expires_at"),)

    signature: str = Field(primary_key=True, max_length=64)  # hex of the v0 HMAC
    expires_at: datetime
