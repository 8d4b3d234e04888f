"""The notification outbox, as the Slack bot (or any notifier) consumes it.

Each notification is a row in gov_notification with a unique dedupe key
`rule|kind:key|period|level[|escalation|reminder-N]`: evaluation inserts it at most once, and a
deliverer marks it delivered after posting, so a crash between the two re-sends at most once and a
re-run of evaluation never sends again.

Shape of `pending(...)` items (also what `aispend evaluate --json` lists under new_notifications)::

    {"id": 12, "dedupe_key": "share|workflow:support-triage|2026-11|red",
     "kind": "alert" | "recovery" | "escalation" | "reminder",
     "audience": "owners" | "leadership",          # escalations go to the leadership channel
     "rule": "share", "scope": {"kind": "workflow", "key": "support-triage"}, "period": "2026-11",
     "level": "red", "previous_level": "yellow" | null, "owner": "U123" | "",
     "title": "RED: workflow support-triage (share, 2026-11)", "text": "<one-line summary>",
     "finding": {"rule", "scope", "period", "level", "basis": "actual" | "forecast", "summary",
                 "numbers": {... amounts as {"amount": "12.5", "currency": "USD"} ...}},
     "created_at": "2026-11-19T06:00:00+00:00", "delivered_at": null}
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from aispend.core.timeutil import as_utc
from aispend.governance import store
from aispend.governance.models import Notification
from aispend.ledger.db import session_scope


def pending(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    """Undelivered notifications, oldest first."""
    with session_scope(engine) as session:
        return [store.notification_json(n) for n in store.undelivered_notifications(session, limit)]


def mark_delivered(engine: Engine, notification_id: int, *, at: datetime, ref: str = "") -> None:
    """Record delivery (e.g. ref = "C0123/1732650000.000100"); delivering twice keeps the first record."""
    with session_scope(engine) as session:
        store.mark_delivered(session, notification_id, at=at, ref=ref)


def claim_delivery(session: Session, notification_id: int, *, at: datetime, ref: str = "") -> bool:
    """Mark delivered in the caller's transaction, only if nobody did yet (compare-and-set): the
    deliverer writes its messages in the same transaction, so a notification is handed on exactly once
    even with two deliverers running."""
    result: Any = session.execute(
        update(Notification)
        .where(col(Notification.id) == notification_id, col(Notification.delivered_at).is_(None))
        .values(delivered_at=as_utc(at), delivery_ref=ref or None)
    )
    return bool(result.rowcount)
