"""The notification outbox, as the Slack bot (or any notifier) consumes it.

Each notification is a row in gov_notification with a unique dedupe key
`rule|kind:key|period|level[|escalation|reminder-N]`: evaluation inserts it at most once, and a
deliverer marks it delivered after posting, so a crash between the two re-sends at most once and a
re-run of evaluation never sends again. One that cannot be delivered (its payload cannot be turned
into a message) is set aside: marked failed with the reason, reported by whoever tried, and no longer
pending, so it neither blocks the others nor fails every later run.

Shape of `pending(...)` items (also what `aispend evaluate --json` lists under new_notifications)::

    {"id": 12, "dedupe_key": "share|workflow:support-triage|2026-11|red",
     "kind": "alert" | "recovery" | "escalation" | "reminder",
     "audience": "owners" | "leadership",          # escalations go to the leadership channel
     "rule": "share", "scope": {"kind": "workflow", "key": "support-triage"}, "period": "2026-11",
     "level": "red", "previous_level": "yellow" | null, "owner": "U123" | "",
     "title": "RED: workflow support-triage (share, 2026-11)", "text": "<one-line summary>",
     "finding": {"rule", "scope", "period", "level", "basis": "actual" | "forecast", "summary",
                 "numbers": {... amounts as {"amount": "12.5", "currency": "USD"} ...},
                 "span": {"kind": "month", "start": "2026-11-01", "end": "2026-12-01"}},
     "created_at": "2026-11-19T06:00:00+00:00", "delivered_at": null, "failed_at": null, "failure": null}

`span` is the period the finding covers; notifications recorded before findings carried it have none
(the deliverer then reads the period key, see core/rules/periods.period_from_key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from aispend.core.governance import store
from aispend.core.governance.models import Notification
from aispend.core.ledger.db import session_scope
from aispend.core.timeutil import as_utc


def pending(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    """Undelivered notifications, oldest first."""
    with session_scope(engine) as session:
        return [store.notification_json(n) for n in store.undelivered_notifications(session, limit)]


def mark_delivered(engine: Engine, notification_id: int, *, at: datetime, ref: str = "") -> None:
    """Record delivery (e.g. ref = "C0123/1732650000.000100"); delivering twice keeps the first record."""
    with session_scope(engine) as session:
        store.mark_delivered(session, notification_id, at=at, ref=ref)


def claim_delivery(session: Session, notification_id: int, *, at: datetime, ref: str = "") -> bool:
    """Mark delivered in the caller's transaction, only if nobody did yet and it was not set aside
    (compare-and-set): the deliverer writes its messages in the same transaction, so a notification is
    handed on exactly once even with two deliverers running."""
    return _settle(session, notification_id, delivered_at=as_utc(at), delivery_ref=ref or None)


def set_aside(session: Session, notification_id: int, *, at: datetime, reason: str) -> bool:
    """Mark failed with `reason`, unless it was delivered or set aside meanwhile (compare-and-set)."""
    return _settle(session, notification_id, failed_at=as_utc(at), failure=reason[:1000])


def _settle(session: Session, notification_id: int, **values: object) -> bool:
    """Write `values` on a notification still open (neither delivered nor set aside); False if it was not."""
    result: Any = session.execute(
        update(Notification)
        .where(
            col(Notification.id) == notification_id,
            col(Notification.delivered_at).is_(None),
            col(Notification.failed_at).is_(None),
        )
        .values(**values)
    )
    return bool(result.rowcount)


@dataclass(frozen=True)
class SetAside:
    """A notification that could not be delivered, and why."""

    id: int
    dedupe_key: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "dedupe_key": self.dedupe_key, "reason": self.reason}

    @property
    def line(self) -> str:
        return f"notification {self.id} ({self.dedupe_key}) set aside: {self.reason}"


@dataclass(frozen=True)
class DeliveryResult:
    notifications: int  # governance notifications handed on by this call
    sent: int  # messages sent by this call (any that were pending, not only these)
    set_aside: tuple[SetAside, ...] = field(default=())  # could not be delivered: marked failed

    @property
    def summary(self) -> str:
        """One line for a CLI, a job summary or a Slack reply."""
        text = f"{self.notifications} notification(s) handed to Slack, {self.sent} message(s) sent"
        if self.set_aside:
            text += f", {len(self.set_aside)} set aside"
        return text
