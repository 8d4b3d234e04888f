"""Reads and writes of the governance tables: thresholds with their audit trail, notifications (the
domain events evaluation records and the bot delivers: gov_notification, not to be confused with the
bot's transport queue, bot/outbox.py), alert ack/snooze and workflow settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from aispend.core.errors import AispendError
from aispend.core.governance.models import AlertState, FeatureRevenue, Notification, Threshold, ThresholdAudit
from aispend.core.ledger.db import session_scope
from aispend.core.ledger.models import Workflow
from aispend.core.ledger.types import unstorable
from aispend.core.money import money_json
from aispend.core.rules.findings import Scope
from aispend.core.rules.lifecycle import NotificationDraft
from aispend.core.rules.thresholds import Threshold as ThresholdRule
from aispend.core.timeutil import as_utc


class NotFoundError(AispendError, LookupError):
    """The thing named does not exist."""

    code = "not_found"


# ---- thresholds ------------------------------------------------------------------------------


def thresholds_as_rules(session: Session) -> list[ThresholdRule]:
    rows = session.execute(
        select(Threshold).order_by(Threshold.scope_kind, Threshold.scope_key, Threshold.period_kind)
    ).scalars()
    return [ThresholdRule(Scope(t.scope_kind, t.scope_key), t.period_kind, t.yellow, t.red, t.currency) for t in rows]


def threshold_json(t: Threshold) -> dict[str, Any]:
    return {
        "scope": {"kind": t.scope_kind, "key": t.scope_key},
        "period": t.period_kind,
        "yellow": money_json(t.yellow, t.currency) if t.yellow is not None else None,
        "red": money_json(t.red, t.currency) if t.red is not None else None,
        "updated_by": t.updated_by,
        "updated_at": as_utc(t.updated_at).isoformat(),
    }


def list_thresholds(session: Session) -> list[Threshold]:
    return list(
        session.execute(
            select(Threshold).order_by(Threshold.scope_kind, Threshold.scope_key, Threshold.period_kind)
        ).scalars()
    )


def _find_threshold(session: Session, scope: Scope, period_kind: str) -> Threshold | None:
    return session.execute(
        select(Threshold).where(
            col(Threshold.scope_kind) == scope.kind,
            col(Threshold.scope_key) == scope.key,
            col(Threshold.period_kind) == period_kind,
        )
    ).scalar_one_or_none()


def check_storable(session: Session, **amounts: Decimal | None) -> None:
    """Refuse (ValueError naming the amount) what the money columns of this database cannot hold
    exactly, before anything is written: what is stored is what was asked for."""
    dialect = session.get_bind().dialect.name
    for name, amount in amounts.items():
        problem = unstorable(amount, dialect) if amount is not None else None
        if problem:
            raise ValueError(f"{name.replace('_', ' ')} {amount} {problem}")


def set_threshold(session: Session, rule: ThresholdRule, *, actor: str, now: datetime) -> Threshold:
    """Create or replace the threshold for (scope, period); audited (who, when, before, after)."""
    if not actor.strip():
        raise ValueError("say who is changing the threshold (--by)")
    check_storable(session, yellow_level=rule.yellow, red_level=rule.red)
    row = _find_threshold(session, rule.scope, rule.period_kind)
    before = threshold_json(row) if row else None
    if row is None:
        row = Threshold(
            scope_kind=rule.scope.kind,
            scope_key=rule.scope.key,
            period_kind=rule.period_kind,
            currency=rule.currency,
            updated_at=now,
        )
        session.add(row)
    row.yellow, row.red, row.currency = rule.yellow, rule.red, rule.currency
    row.updated_by, row.updated_at = actor, as_utc(now)
    session.flush()
    session.add(
        ThresholdAudit(
            scope_kind=rule.scope.kind,
            scope_key=rule.scope.key,
            period_kind=rule.period_kind,
            action="set",
            actor=actor,
            at=as_utc(now),
            before=before,
            after=threshold_json(row),
        )
    )
    return row


def remove_threshold(session: Session, scope: Scope, *, period_kind: str, actor: str, now: datetime) -> None:
    row = _find_threshold(session, scope, period_kind)
    if row is None:
        raise NotFoundError(f"no {period_kind} threshold for {scope.label}")
    session.add(
        ThresholdAudit(
            scope_kind=scope.kind,
            scope_key=scope.key,
            period_kind=period_kind,
            action="remove",
            actor=actor,
            at=as_utc(now),
            before=threshold_json(row),
            after=None,
        )
    )
    session.delete(row)


def threshold_audit(session: Session) -> list[ThresholdAudit]:
    return list(session.execute(select(ThresholdAudit).order_by(col(ThresholdAudit.id))).scalars())


# ---- notifications (the outbox) ---------------------------------------------------------------


def insert_notification(
    session: Session, draft: NotificationDraft, *, now: datetime, owner: str = ""
) -> Notification | None:
    """Insert unless the dedupe key exists (also under a concurrent evaluation); the new row or None."""
    values = {
        "dedupe_key": draft.dedupe_key,
        "kind": draft.kind,
        "audience": draft.audience,
        "rule": draft.rule,
        "scope_kind": draft.scope_kind,
        "scope_key": draft.scope_key,
        "period": draft.period,
        "level": draft.level.value,
        "previous_level": draft.previous_level.value if draft.previous_level else None,
        "owner": owner,
        "title": draft.title[:300],
        "text": draft.text[:2000],
        "payload": draft.payload,
        "created_at": as_utc(now),
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table: Any = Notification.__table__  # type: ignore[attr-defined]
    stmt = insert(table).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    result: Any = session.execute(stmt)
    if not result.rowcount:
        return None
    return session.execute(select(Notification).where(col(Notification.dedupe_key) == draft.dedupe_key)).scalar_one()


def undelivered_notifications(session: Session, *, limit: int = 100) -> list[Notification]:
    """Notifications neither delivered nor set aside, oldest first: what the Slack outbox sends."""
    stmt = (
        select(Notification)
        .where(col(Notification.delivered_at).is_(None), col(Notification.failed_at).is_(None))
        .order_by(col(Notification.id))
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def set_aside_notifications(session: Session) -> list[Notification]:
    """Notifications that could not be delivered, oldest first, each with its reason."""
    stmt = select(Notification).where(col(Notification.failed_at).is_not(None)).order_by(col(Notification.id))
    return list(session.execute(stmt).scalars())


def mark_delivered(session: Session, notification_id: int, *, at: datetime, ref: str = "") -> None:
    note = session.get(Notification, notification_id)
    if note is None:
        raise NotFoundError(f"no notification {notification_id}")
    if note.delivered_at is None:
        note.delivered_at = as_utc(at)
        note.delivery_ref = ref or None


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "dedupe_key": n.dedupe_key,
        "kind": n.kind,
        "audience": n.audience,
        "rule": n.rule,
        "scope": {"kind": n.scope_kind, "key": n.scope_key},
        "period": n.period,
        "level": n.level,
        "previous_level": n.previous_level,
        "owner": n.owner,
        "title": n.title,
        "text": n.text,
        "finding": n.payload,
        "created_at": as_utc(n.created_at).isoformat(),
        "delivered_at": as_utc(n.delivered_at).isoformat() if n.delivered_at else None,
        "failed_at": as_utc(n.failed_at).isoformat() if n.failed_at else None,
        "failure": n.failure,
    }


# ---- delivery of notifications (the domain events the bot turns into Slack messages) --------------
#
# The notification outbox, as the Slack bot (or any notifier) consumes it.
#
# Each notification is a row in gov_notification with a unique dedupe key
# `rule|kind:key|period|level[|escalation|reminder-N]`: evaluation inserts it at most once, and a
# deliverer marks it delivered after posting, so a crash between the two re-sends at most once and a
# re-run of evaluation never sends again. One that cannot be delivered (its payload cannot be turned
# into a message) is set aside: marked failed with the reason, reported by whoever tried, and no longer
# pending, so it neither blocks the others nor fails every later run.
#
# Shape of `pending(...)` items (also what `aispend evaluate --json` lists under new_notifications)::
#
#     {"id": 12, "dedupe_key": "share|workflow:support-triage|2026-11|red",
#      "kind": "alert" | "recovery" | "escalation" | "reminder",
#      "audience": "owners" | "leadership",          # escalations go to the leadership channel
#      "rule": "share", "scope": {"kind": "workflow", "key": "support-triage"}, "period": "2026-11",
#      "level": "red", "previous_level": "yellow" | null, "owner": "U123" | "",
#      "title": "RED: workflow support-triage (share, 2026-11)", "text": "<one-line summary>",
#      "finding": {"rule", "scope", "period", "level", "basis": "actual" | "forecast", "summary",
#                  "numbers": {... amounts as {"amount": "12.5", "currency": "USD"} ...},
#                  "span": {"kind": "month", "start": "2026-11-01", "end": "2026-12-01"}},
#      "created_at": "2026-11-19T06:00:00+00:00", "delivered_at": null, "failed_at": null, "failure": null}
#
# `span` is the period the finding covers; notifications recorded before findings carried it have none
# (the deliverer then reads the period key, see core/rules/periods.period_from_key).


def pending_notifications(engine: Engine, *, limit: int = 100) -> list[dict[str, Any]]:
    """Undelivered notifications, oldest first."""
    with session_scope(engine) as session:
        return [notification_json(n) for n in undelivered_notifications(session, limit=limit)]


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


# ---- alert states: ack and snooze -------------------------------------------------------------


def find_alert(session: Session, ref: str) -> AlertState:
    """By id, or by `rule|kind:key|period`."""
    if ref.isdigit():
        state = session.get(AlertState, int(ref))
    else:
        parts = ref.split("|")
        if len(parts) != 3 or ":" not in parts[1]:
            raise NotFoundError(f"alert reference must be an id or rule|kind:key|period, got {ref!r}")
        kind, _, key = parts[1].partition(":")
        state = session.execute(
            select(AlertState).where(
                col(AlertState.rule) == parts[0],
                col(AlertState.scope_kind) == kind,
                col(AlertState.scope_key) == key,
                col(col(AlertState.period)) == parts[2],
            )
        ).scalar_one_or_none()
    if state is None:
        raise NotFoundError(f"no alert {ref!r}")
    return state


def ack_alert(session: Session, ref: str, *, who: str, now: datetime) -> AlertState:
    state = find_alert(session, ref)
    state.acked_by, state.acked_at = who, as_utc(now)
    return state


def snooze_alert(session: Session, ref: str, *, until: datetime) -> AlertState:
    state = find_alert(session, ref)
    state.snoozed_until = as_utc(until)
    return state


def alert_states(session: Session, *, periods: set[str] | None = None) -> list[AlertState]:
    stmt = select(AlertState).order_by(AlertState.rule, AlertState.scope_kind, AlertState.scope_key, AlertState.period)
    if periods is not None:
        stmt = stmt.where(col(AlertState.period).in_(sorted(periods)))
    return list(session.execute(stmt).scalars())


def alert_json(s: AlertState) -> dict[str, Any]:
    return {
        "id": s.id,
        "ref": f"{s.rule}|{s.scope_kind}:{s.scope_key}|{s.period}",
        "rule": s.rule,
        "scope": {"kind": s.scope_kind, "key": s.scope_key},
        "period": s.period,
        "level": s.level,
        "basis": s.basis,
        "summary": s.summary,
        "numbers": s.numbers,
        "since": as_utc(s.since).isoformat(),
        "acked_by": s.acked_by,
        "acked_at": as_utc(s.acked_at).isoformat() if s.acked_at else None,
        "snoozed_until": as_utc(s.snoozed_until).isoformat() if s.snoozed_until else None,
        "escalated_at": as_utc(s.escalated_at).isoformat() if s.escalated_at else None,
    }


# ---- workflows --------------------------------------------------------------------------------


def _workflow(session: Session, key: str, now: datetime, create: bool) -> Workflow:
    wf = session.get(Workflow, key)
    if wf is None:
        if not create:
            raise NotFoundError(f"no workflow {key!r}")
        wf = Workflow(key=key, updated_at=as_utc(now))
        session.add(wf)
    return wf


def set_workflow_owner(session: Session, key: str, *, owner: str, now: datetime) -> Workflow:
    wf = _workflow(session, key, now, create=True)
    wf.owner, wf.updated_at = owner, as_utc(now)
    return wf


MAX_OUTCOME_UNIT, MAX_DISPLAY_NAME = 128, 256  # the workflow table's column lengths


def set_workflow_outcome(
    session: Session, key: str, *, now: datetime, unit: str | None = None, display_name: str | None = None
) -> Workflow:
    """What one outcome of a workflow is called ("resolved ticket": cost per resolved ticket) and the
    name reports show for it."""
    limits = (("outcome unit", unit, MAX_OUTCOME_UNIT), ("display name", display_name, MAX_DISPLAY_NAME))
    for what, value, limit in limits:
        if value is not None and (not value.strip() or len(value.strip()) > limit):
            raise ValueError(f"{what} must be 1 to {limit} characters, got {len(value.strip())}")
    wf = _workflow(session, key, now, create=True)
    if unit is not None:
        wf.outcome_unit = unit.strip()
    if display_name is not None:
        wf.display_name = display_name.strip()
    wf.updated_at = as_utc(now)
    return wf


def set_workflow_cap(
    session: Session,
    key: str,
    *,
    now: datetime,
    run_cost_cap: Decimal | None = None,
    call_token_budget: int | None = None,
    currency: str | None = None,
    clear: bool = False,
) -> Workflow:
    if run_cost_cap is not None and run_cost_cap <= 0:
        raise ValueError(f"run cost cap must be above zero, got {run_cost_cap}")
    if call_token_budget is not None and call_token_budget <= 0:
        raise ValueError(f"call token budget must be above zero, got {call_token_budget}")
    check_storable(session, run_cost_cap=run_cost_cap)
    wf = _workflow(session, key, now, create=True)
    if clear:
        wf.run_cost_cap, wf.call_token_budget = None, None
    if run_cost_cap is not None:
        wf.run_cost_cap = run_cost_cap
    if call_token_budget is not None:
        wf.call_token_budget = call_token_budget
    if currency:
        wf.currency = currency
    wf.updated_at = as_utc(now)
    return wf


def workflow_json(wf: Workflow) -> dict[str, Any]:
    return {
        "key": wf.key,
        "display_name": wf.display_name,
        "owner": wf.owner,
        "team": wf.team,
        "outcome_unit": wf.outcome_unit,
        "run_cost_cap": money_json(wf.run_cost_cap, wf.currency) if wf.run_cost_cap is not None else None,
        "call_token_budget": wf.call_token_budget,
        "currency": wf.currency,
    }


def list_workflows(session: Session) -> list[Workflow]:
    return list(session.execute(select(Workflow).order_by(Workflow.key)).scalars())


# ---- revenue (unit economics) ----------------------------------------------------------------


def set_feature_revenue(
    session: Session,
    feature: str,
    *,
    month: date,
    revenue: Decimal,
    currency: str,
    now: datetime,
    gross_margin: Decimal | None = None,
) -> FeatureRevenue:
    start = month.replace(day=1)
    row = session.execute(
        select(FeatureRevenue).where(
            col(FeatureRevenue.feature) == feature,
            col(FeatureRevenue.customer) == "",
            col(FeatureRevenue.month) == start,
        )
    ).scalar_one_or_none()
    if row is None:
        row = FeatureRevenue(feature=feature, month=start, currency=currency, updated_at=as_utc(now))
        session.add(row)
    row.revenue, row.gross_margin, row.currency, row.updated_at = revenue, gross_margin, currency, as_utc(now)
    return row
