"""An alert's life in Slack: one message per alert, updated (chat.update) on every change, lines in its
thread, and how governance notifications become those changes.

Each pending `gov_notification` (kinds alert, recovery, escalation, reminder) becomes one change of one
alert message: the first level posts to the finance channel (mentioning the workflow's owner), a later
level or the recovery updates that message and adds a thread line, an escalation copies it to the
leadership channel. The notification is marked delivered (compare-and-set) in the SAME transaction that
writes its outbox rows, and those rows are keyed by the notification's dedupe key: a crash anywhere, a
re-run or two deliverers at once never post twice and never lose a message (the outbox then sends what
was written). Acknowledge / Snooze in Slack write the governance alert state, the one place an alert's ack and
snooze are kept; the message shows it.

A notification that cannot be turned into a message (a payload this version cannot read) is set aside
in its own transaction: marked failed with the reason and returned in DeliveryResult.set_aside for the
caller to report, while the others are delivered. A lost database connection is not the notification's
fault: it stops the delivery and the notification stays pending for the next one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from aispend.bot import audit
from aispend.bot.blocks import clip, escape, mention
from aispend.bot.models import AlertMessage
from aispend.bot.outbox import Outbox, sent_row
from aispend.bot.render import render_action_line, render_alert, render_alert_thread_line, render_explain
from aispend.bot.views import RECOVERED, AlertData, AlertState, ChangeLine
from aispend.core.errors import AispendError
from aispend.core.governance import store
from aispend.core.governance.store import DeliveryResult, SetAside, claim_delivery, pending_notifications, set_aside
from aispend.core.ledger.db import session_scope
from aispend.core.money import Money, format_money
from aispend.core.rules.periods import Period, period_from_key
from aispend.core.timeutil import Clock, as_utc

SNOOZE = timedelta(hours=24)
SLACK_ACTOR = "slack:"  # how governance records a Slack user who acknowledged an alert


class UnknownAlert(AispendError, LookupError):
    """An alert aispend no longer tracks (the text names the key, for the log; the user reads `user_message`)."""

    code = "unknown_alert"

    @property
    def user_message(self) -> str:
        return "This alert is no longer tracked by aispend."


class AlertService:
    def __init__(
        self,
        engine: Engine,
        outbox: Outbox,
        clock: Clock,
        *,
        finance_channel: str,
        leadership_channel: str = "",
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.clock = clock
        self.finance_channel = finance_channel
        self.leadership_channel = leadership_channel

    def notify(self, alert: AlertData) -> None:
        """Post a new alert, or update the existing message and add a thread line when its level changed."""
        with session_scope(self.engine) as session:
            self.record(session, alert)
        self.outbox.deliver_pending()

    def record(self, session: Session, alert: AlertData, *, event_key: str | None = None) -> bool:
        """Write what `alert` changes to the outbox in the caller's transaction; True if anything was written.

        `event_key` (e.g. a governance notification's dedupe key) names this change's outbox rows; without
        it they are named by the message's revision."""
        now = self.clock()
        stored = session.get(AlertMessage, alert.key)
        if stored is None:
            if alert.level == RECOVERED:
                return False  # nothing was ever posted: nothing to recover
            post_key = f"alert:{alert.key}:post"
            stored = AlertMessage(
                alert_key=alert.key,
                post_key=post_key,
                channel=self.finance_channel,
                level=alert.level,
                owner=alert.owner,
                alert=alert_to_json(alert),
                updated_at=now,
            )
            session.add(stored)
            state = _state(session, stored, now)
            self.outbox.post(session, post_key, self.finance_channel, render_alert(alert, state))
            if alert.escalate and self.leadership_channel:
                self.outbox.post(
                    session, f"alert:{alert.key}:escalation", self.leadership_channel, render_alert(alert, state)
                )
            return True
        if stored.level == alert.level:
            return False
        previous = stored.level
        stored.level = alert.level
        stored.alert = alert_to_json(alert)
        stored.revision += 1
        stored.updated_at = now
        # An ack or snooze given at a lower level does not cover a rise: governance dropped it when it
        # evaluated the rise, before this notification was delivered.
        snoozed = _state(session, stored, now).state == "snoozed"
        self._update(session, stored, alert, event_key, now)
        if not snoozed or alert.level == RECOVERED:
            self.outbox.post(
                session,
                _event(stored, "thread", event_key),
                "",
                render_alert_thread_line(alert, previous),
                thread_of=stored.post_key,
            )
        session.add(stored)
        return True

    def escalate(self, session: Session, alert_key: str, line: str, *, event_key: str) -> bool:
        """Copy the alert to the leadership channel (once) and say so in its thread."""
        stored = session.get(AlertMessage, alert_key)
        if stored is None:
            return False
        alert = alert_from_json(stored.alert)
        if self.leadership_channel:
            self.outbox.post(
                session,
                f"alert:{alert_key}:escalation",
                self.leadership_channel,
                render_alert(alert, _state(session, stored, self.clock())),
            )
        else:
            line += " (AISPEND_SLACK_LEADERSHIP_CHANNEL is not set: no copy was posted)"
        self.outbox.post(session, f"{event_key}:thread", "", render_action_line(line), thread_of=stored.post_key)
        return True

    def remind(self, session: Session, alert_key: str, line: str, *, event_key: str) -> bool:
        """A line in the alert's thread (an open alert nobody acknowledged)."""
        stored = session.get(AlertMessage, alert_key)
        if stored is None:
            return False
        self.outbox.post(session, f"{event_key}:thread", "", render_action_line(line), thread_of=stored.post_key)
        return True

    def acknowledge(self, alert_key: str, user_id: str) -> None:
        """Acknowledge the governance alert (no reminder, no escalation): its one state, gov_alert_state."""

        def change(session: Session, stored: AlertMessage, now: datetime) -> None:
            store.ack_alert(session, alert_key, who=f"{SLACK_ACTOR}{user_id}", now=now)

        self._act(alert_key, user_id, "alert.acknowledge", change, f"Acknowledged by {mention(user_id)}.")

    def snooze(self, alert_key: str, user_id: str) -> None:
        def change(session: Session, stored: AlertMessage, now: datetime) -> None:
            store.snooze_alert(session, alert_key, until=now + SNOOZE)

        self._act(alert_key, user_id, "alert.snooze", change, f"Snoozed for 24 h by {mention(user_id)}.")

    def assign(self, alert_key: str, user_id: str, owner: str) -> None:
        self._act(
            alert_key,
            user_id,
            "alert.assign_owner",
            lambda session, s, now: _set(s, owner=owner),
            f"{mention(user_id)} assigned {mention(owner)} as owner.",
        )

    def explain(self, alert_key: str, request_id: str) -> None:
        """Post the change decomposition in the alert's thread (once per click)."""
        with session_scope(self.engine) as session:
            stored = self._get(session, alert_key)
            alert = alert_from_json(stored.alert)
            self.outbox.post(
                session,
                f"alert:{alert_key}:explain:{request_id}",
                "",
                render_explain(alert),
                thread_of=stored.post_key,
            )
        self.outbox.deliver_pending()

    def alert_of(self, alert_key: str) -> AlertData:
        with Session(self.engine) as session:
            return alert_from_json(self._get(session, alert_key).alert)

    def _act(self, alert_key: str, user_id: str, action: str, change: Any, line: str) -> None:
        now = self.clock()
        with session_scope(self.engine) as session:
            stored = self._get(session, alert_key)
            before = _snapshot(session, stored, now)
            if before["state"] == RECOVERED:
                return  # a recovered alert has no buttons left; an old click changes nothing
            try:
                change(session, stored, now)
            except store.NotFoundError:
                raise UnknownAlert(f"no governance alert for {alert_key!r}") from None
            after = _snapshot(session, stored, now)
            if before == after:
                return
            stored.revision += 1
            stored.updated_at = now
            session.add(stored)
            audit.record(
                session,
                at=now,
                user_id=user_id,
                action=action,
                target=f"alert:{alert_key}",
                before=before,
                after=after,
            )
            self._update(session, stored, alert_from_json(stored.alert), None, now)
            self.outbox.post(
                session,
                _event(stored, "thread", None),
                "",
                render_action_line(line),
                thread_of=stored.post_key,
            )
        self.outbox.deliver_pending()

    def _update(
        self, session: Session, stored: AlertMessage, alert: AlertData, event_key: str | None, now: datetime
    ) -> None:
        """Re-render the alert into its original message, and into the escalation copy if there is one."""
        message = render_alert(alert, _state(session, stored, now))
        self.outbox.update(session, _event(stored, "update", event_key), stored.post_key, message)
        escalation_key = f"alert:{stored.alert_key}:escalation"
        if sent_row(session, escalation_key) is not None:
            self.outbox.update(session, _event(stored, "escalation-update", event_key), escalation_key, message)

    @staticmethod
    def _get(session: Session, alert_key: str) -> AlertMessage:
        stored = session.get(AlertMessage, alert_key)
        if stored is None:
            raise UnknownAlert(f"no alert message for {alert_key!r}")
        return stored


_RANKS = {"yellow": 1, "red": 2}


def _rank(level: str) -> int:
    return _RANKS.get(level, 0)


def _event(stored: AlertMessage, suffix: str, event_key: str | None) -> str:
    """Outbox key of one change's row: by the change's own key when it has one, else by revision."""
    if event_key:
        return f"{event_key}:{suffix}"
    return f"alert:{stored.alert_key}:r{stored.revision}:{suffix}"


def _set(stored: AlertMessage, **values: Any) -> None:
    for name, value in values.items():
        setattr(stored, name, value)


def _state(session: Session, stored: AlertMessage, now: datetime) -> AlertState:
    """What the message shows: recovered by its level, else acknowledged or snoozed as the governance
    alert state says (the one place either is kept), else open."""
    if stored.level == RECOVERED:
        return AlertState(state=RECOVERED, owner=stored.owner)
    try:
        governed = store.find_alert(session, stored.alert_key)
    except store.NotFoundError:  # an alert governance does not know: nothing acknowledged it
        return AlertState(owner=stored.owner)
    if governed.acked_at is not None:
        who = governed.acked_by or ""
        return AlertState(state="acknowledged", acknowledged_by=who.removeprefix(SLACK_ACTOR), owner=stored.owner)
    if governed.snoozed_until is not None and as_utc(governed.snoozed_until) > as_utc(now):
        return AlertState(state="snoozed", snoozed_until=as_utc(governed.snoozed_until), owner=stored.owner)
    return AlertState(owner=stored.owner)


def _snapshot(session: Session, stored: AlertMessage, now: datetime) -> dict[str, Any]:
    state = _state(session, stored, now)
    return {
        "state": state.state,
        "acknowledged_by": state.acknowledged_by,
        "owner": state.owner,
        "snoozed_until": state.snoozed_until.isoformat() if state.snoozed_until else None,
    }


# --- AlertData <-> JSON (kept with the message so buttons can re-render it later) -------------------------


def _money(m: Money | None) -> dict[str, str] | None:
    return m.as_json() if m is not None else None


def _unmoney(d: dict[str, str] | None) -> Money | None:
    return Money(Decimal(d["amount"]), d["currency"]) if d else None


def alert_to_json(alert: AlertData) -> dict[str, Any]:
    data = dataclasses.asdict(alert)
    data["spent"] = _money(alert.spent)
    data["threshold"] = _money(alert.threshold)
    data["forecast"] = _money(alert.forecast)
    data["forecast_low"] = _money(alert.forecast_low)
    data["forecast_high"] = _money(alert.forecast_high)
    data["period"] = alert.period.as_json(with_complete=True)
    data["explanation"] = [
        {"scope": c.scope, "delta": c.delta.as_json(), "reason": c.reason} for c in alert.explanation
    ]
    return data


def alert_from_json(data: dict[str, Any]) -> AlertData:
    period = data["period"]
    spent = _unmoney(data["spent"])
    assert spent is not None
    return AlertData(
        key=data["key"],
        scope_kind=data["scope_kind"],
        scope=data["scope"],
        level=data["level"],
        spent=spent,
        threshold=_unmoney(data["threshold"]),
        period=Period.from_json(period),
        owner=data.get("owner", ""),
        forecast=_unmoney(data.get("forecast")),
        escalate=data.get("escalate", False),
        explanation=[
            ChangeLine(c["scope"], _unmoney(c["delta"]) or Money(Decimal(0), spent.currency), c["reason"])
            for c in data.get("explanation", [])
        ],
        rule=data.get("rule", "threshold"),
        summary=data.get("summary", ""),
        basis=data.get("basis", "actual"),
        forecast_low=_unmoney(data.get("forecast_low")),
        forecast_high=_unmoney(data.get("forecast_high")),
    )


# --- governance notifications -> alert messages ---------------------------------------------------

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


def _money_of(value: Any) -> Money | None:
    """A finding's {"amount", "currency"} as Money (None when absent)."""
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
        if (amount := _money_of(parts.get(name))) is not None and amount.amount != 0
    ]
    for kind in ("workflows", "models"):
        for entry in numbers.get(f"top_{kind}") or []:
            change = _money_of(entry.get("change"))
            if change is not None and change.amount != 0:
                before, after = _money_of(entry.get("before")), _money_of(entry.get("after"))
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
    covered = Period.from_json(span) if span is not None else period_from_key(note["period"])
    return dataclasses.replace(covered, complete=as_utc(now).date() >= covered.end)


def alert_from_notification(note: dict[str, Any], now: datetime, currency: str) -> AlertData:
    """A pure mapping: the notification (core/governance/store.py's shape) as the bot's AlertData."""
    finding = note.get("finding") or {}
    numbers = finding.get("numbers") or {}
    scope = note["scope"]
    level = RECOVERED if note["kind"] == "recovery" else note["level"]
    threshold = forecast = low = high = None
    if note["rule"] == "threshold":
        limits = numbers.get("limits") or {}
        threshold = (
            _money_of(limits.get(note["level"])) or _money_of(limits.get("red")) or _money_of(limits.get("yellow"))
        )
        projected = numbers.get("forecast") or {}
        forecast, low, high = (_money_of(projected.get(k)) for k in ("expected", "low", "high"))
        spent = _money_of(projected.get("actual_to_date"))
    else:
        spent = next(
            (
                m
                for m in (_money_of(numbers.get(k)) for k in ("workflow_spend", "after", "spend", "cost"))
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
    while batch := pending_notifications(engine, limit=100):
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
    with session_scope(engine) as session:
        done = set_aside(session, note["id"], at=now, reason=reason)
    if not done:
        return None  # delivered or set aside by another deliverer meanwhile
    log.warning("governance notification %s (%s) set aside: %s", note["id"], note["dedupe_key"], reason)
    return SetAside(note["id"], note["dedupe_key"], reason)
