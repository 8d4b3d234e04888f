"""Governance notifications into Slack, through the bot's one outbox and its AlertService.

Each pending `gov_notification` (kinds alert, recovery, escalation, reminder) becomes one change of one
alert message: the first level posts to the finance channel (mentioning the workflow's owner), a later
level or the recovery updates that message and adds a thread line, an escalation copies it to the
leadership channel. The notification is marked delivered (compare-and-set) in the SAME transaction that
writes its outbox rows, and those rows are keyed by the notification's dedupe key: a crash anywhere, a
re-run or two deliverers at once never post twice and never lose a message (the outbox then sends what
was written). Acknowledge / Snooze in Slack write the governance alert state too (GovernanceAlertStates).

A notification that cannot be turned into a message (a payload this version cannot read) is set aside
in its own transaction: marked failed with the reason and returned in DeliveryResult.set_aside for the
caller to report, while the others are delivered. A lost database connection is not the notification's
fault: it stops the delivery and the notification stays pending for the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from aispend.bot.alerts import AlertService
from aispend.bot.blocks import clip, escape
from aispend.bot.views import RECOVERED, AlertData, ChangeLine, Period
from aispend.core.governance import store
from aispend.core.governance.outbox import DeliveryResult, SetAside, claim_delivery, pending, set_aside
from aispend.core.money import Money, format_money
from aispend.core.rules import periods
from aispend.core.timeutil import as_utc

__all__ = ["DeliveryResult", "GovernanceAlertStates", "deliver_with"]

log = logging.getLogger(__name__)
# The database going away is no fault of the notification being delivered: never a reason to set it aside.
TRANSIENT = (OperationalError, InterfaceError, PoolTimeout)

MAX_KEY = 200  # outbox keys are at most 255 characters, suffixes included


def alert_key(note: dict[str, Any]) -> str:
    """The alert a notification belongs to: governance's own alert reference `rule|kind:key|period`,
    which the Acknowledge / Snooze buttons carry back (store.find_alert understands it)."""
    scope = note["scope"]
    return _short(f"{note['rule']}|{scope['kind']}:{scope['key']}|{note['period']}")


def event_key(note: dict[str, Any]) -> str:
    """Outbox key prefix of the messages one notification causes."""
    return _short(f"gov:{note['dedupe_key']}")


def _short(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return key[:120] + "#" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _money(value: Any) -> Money | None:
    if isinstance(value, dict) and "amount" in value and "currency" in value:
        return Money(Decimal(str(value["amount"])), str(value["currency"]))
    return None


_PARTS = (
    ("volume", "volume (calls and tokens per call)"),
    ("model_mix", "model mix (work moved between models)"),
    ("cache_hit_rate", "cache hit rate"),
    ("price", "price per token"),
)


def explanation(numbers: dict[str, Any]) -> list[ChangeLine]:
    """The change rule's decomposition (volume, model mix, cache, price) and its largest contributors,
    as the Explain button shows them; empty when the finding carries none."""
    parts = numbers.get("explained") or {}
    lines = [
        ChangeLine(label, amount, _direction(amount))
        for name, label in _PARTS
        if (amount := _money(parts.get(name))) is not None and amount.amount != 0
    ]
    for kind in ("workflows", "models"):
        for entry in numbers.get(f"top_{kind}") or []:
            change = _money(entry.get("change"))
            if change is not None and change.amount != 0:
                before, after = _money(entry.get("before")), _money(entry.get("after"))
                span = f"{_shown(before)} → {_shown(after)}" if before and after else "changed"
                lines.append(ChangeLine(f"{kind[:-1]} {entry['key'] or '(unattributed)'}", change, span))
    return lines


def _shown(amount: Money) -> str:
    return format_money(amount.amount, amount.currency)


def _direction(amount: Money) -> str:
    return "pushed spend up" if amount.amount > 0 else "pulled spend down"


def period_of_notification(note: dict[str, Any], now: datetime) -> Period:
    """The dates the notification's finding covers, from the span it carries; a notification stored
    before findings carried one is read from its period key. Complete once `now` is past its end."""
    span = (note.get("finding") or {}).get("span")
    covered = periods.Period.from_json(span) if span is not None else periods.period_from_key(note["period"])
    return Period(covered.kind, covered.start, covered.end, complete=as_utc(now).date() >= covered.end)


def alert_from_notification(note: dict[str, Any], now: datetime, currency: str) -> AlertData:
    """A pure mapping: the notification (core/governance/outbox.py's shape) as the bot's AlertData."""
    finding = note.get("finding") or {}
    numbers = finding.get("numbers") or {}
    scope = note["scope"]
    level = RECOVERED if note["kind"] == "recovery" else note["level"]
    threshold = forecast = low = high = None
    if note["rule"] == "threshold":
        limits = numbers.get("limits") or {}
        threshold = _money(limits.get(note["level"])) or _money(limits.get("red")) or _money(limits.get("yellow"))
        projected = numbers.get("forecast") or {}
        forecast, low, high = (_money(projected.get(k)) for k in ("expected", "low", "high"))
        spent = _money(projected.get("actual_to_date"))
    else:
        spent = next(
            (
                m
                for m in (_money(numbers.get(k)) for k in ("workflow_spend", "after", "spend", "cost"))
                if m is not None
            ),
            None,
        )
    return AlertData(
        key=alert_key(note),
        scope_kind=scope["kind"],
        scope=scope["key"] if scope["kind"] != "company" else "",
        level=level,
        spent=spent or Money(Decimal(0), currency),
        threshold=threshold,
        period=period_of_notification(note, now),
        owner=note.get("owner") or "",
        forecast=forecast,
        escalate=note["kind"] == "escalation",
        rule=note["rule"],
        summary=note.get("text") or "",
        explanation=explanation(numbers),
        basis=finding.get("basis") or "actual",
        forecast_low=low,
        forecast_high=high,
    )


def record_notification(
    alerts: AlertService, session: Session, note: dict[str, Any], now: datetime, currency: str
) -> None:
    """Write what one notification changes in Slack (in the caller's transaction)."""
    alert = alert_from_notification(note, now, currency)
    key = event_key(note)
    if note["kind"] == "escalation":
        line = f":rotating_light: Escalated to leadership: still {note['level']} and nobody acknowledged it."
        if not alerts.escalate(session, alert.key, line, event_key=key):
            alerts.record(session, alert, event_key=key)  # never posted before: post it, copy included
    elif note["kind"] == "reminder":
        line = f":bell: Still {note['level']} and not acknowledged: {escape(note.get('text') or '')}"
        if not alerts.remind(session, alert.key, clip(line, 2900), event_key=key):
            alerts.record(session, alert, event_key=key)
    else:
        alerts.record(session, alert, event_key=key)


def deliver_with(alerts: AlertService, engine: Engine, now: datetime, currency: str) -> DeliveryResult:
    """Hand every pending notification to `alerts` (oldest first), then send the outbox. One that
    cannot be delivered is set aside (failed, with the reason) and the others still go."""
    handed = 0
    aside: list[SetAside] = []
    while batch := pending(engine, limit=100):
        for note in batch:
            with Session(engine) as session:
                if not claim_delivery(session, note["id"], at=now, ref=f"slack-outbox:{event_key(note)}"):
                    session.rollback()  # another deliverer has it
                    continue
                try:
                    record_notification(alerts, session, note, now, currency)
                    session.commit()
                except TRANSIENT:
                    raise
                except Exception as exc:  # whatever this one notification's payload causes
                    session.rollback()
                    failed = _set_aside(engine, note, now, exc)
                    if failed is not None:
                        aside.append(failed)
                    continue
            handed += 1
    return DeliveryResult(handed, alerts.outbox.deliver_pending(), tuple(aside))


def _set_aside(engine: Engine, note: dict[str, Any], now: datetime, exc: Exception) -> SetAside | None:
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
    with Session(engine) as session:
        done = set_aside(session, note["id"], at=now, reason=reason)
        session.commit()
    if not done:
        return None  # delivered or set aside by another deliverer meanwhile
    log.warning("governance notification %s (%s) set aside: %s", note["id"], note["dedupe_key"], reason)
    return SetAside(note["id"], note["dedupe_key"], reason)


class GovernanceAlertStates:
    """Acknowledge / Snooze clicked in Slack also acknowledge / snooze the governance alert (no reminder,
    no escalation), in the same transaction as the message's change."""

    def acknowledge(self, session: Session, alert_key: str, user_id: str, now: datetime) -> None:
        with contextlib.suppress(store.NotFoundError):  # not a governance alert: nothing to keep in step
            store.ack_alert(session, alert_key, who=f"slack:{user_id}", now=now)

    def snooze(self, session: Session, alert_key: str, until: datetime) -> None:
        with contextlib.suppress(store.NotFoundError):
            store.snooze_alert(session, alert_key, until=until)
