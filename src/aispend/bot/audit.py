"""The audit of every change made from Slack (who, what, before, after)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from aispend.bot.models import AuditEntry


def record(
    session: Session,
    *,
    at: datetime,
    user_id: str,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEntry:
    entry = AuditEntry(at=at, user_id=user_id, action=action, target=target, before=before, after=after)
    session.add(entry)
    return entry


def entries(session: Session, *, limit: int = 100, user_id: str | None = None) -> Sequence[AuditEntry]:
    query = select(AuditEntry).order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit)
    if user_id:
        query = query.where(AuditEntry.user_id == user_id)
    return session.exec(query).all()
