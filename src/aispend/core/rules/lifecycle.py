"""The alert lifecycle as a pure function: previous state + a finding + now -> new state + notifications.

States per (rule, scope, period): ok, yellow, red, no-data. A notification is drafted on every change
of level, recovery included, and its dedupe key (rule, scope, period, level) makes it exist at most
once: going red, back to yellow and red again notifies red once. A red that nobody acknowledged
within `escalate_after` escalates once to the leadership audience. Ack and snooze stop reminders
and the escalation. Reminders (re-sending an open yellow/red every interval) are off by default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from aispend.core.rules.findings import Finding, Level, severity
from aispend.core.timeutil import as_utc

# Rules whose return to ok is not news (a workflow leaving the top 5 is not a "recovery").
SILENT_RECOVERY = frozenset({"new_entrant"})
ALERTING = (Level.YELLOW, Level.RED)


@dataclass(frozen=True, slots=True)
class AlertStatus:
    level: Level
    since: datetime  # when this level began
    acked_by: str | None = None
    acked_at: datetime | None = None
    snoozed_until: datetime | None = None
    escalated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    escalate_after: timedelta | None = timedelta(hours=4)
    resend_every: timedelta | None = None  # off by default


@dataclass(frozen=True, slots=True)
class NotificationDraft:
    dedupe_key: str
    kind: str  # alert | recovery | escalation | reminder
    audience: str  # owners | leadership
    rule: str
    scope_kind: str
    scope_key: str
    period: str
    level: Level
    previous_level: Level | None
    title: str
    text: str
    payload: dict[str, Any]


def dedupe_key(finding: Finding, level: Level, suffix: str = "") -> str:
    key = f"{finding.rule}|{finding.scope.kind}:{finding.scope.key}|{finding.period}|{level.value}"
    return f"{key}|{suffix}" if suffix else key


def _draft(finding: Finding, kind: str, audience: str, previous: Level | None, key: str) -> NotificationDraft:
    if kind == "recovery":
        title = f"Recovered: {finding.scope.label} back to ok ({finding.rule}, {finding.period})"
    elif kind == "escalation":
        title = f"Escalation: {finding.scope.label} red and unacknowledged ({finding.rule}, {finding.period})"
    elif kind == "reminder":
        title = f"Still {finding.level.value}: {finding.scope.label} ({finding.rule}, {finding.period})"
    else:
        label = " (forecast)" if finding.basis == "forecast" else ""
        title = f"{finding.level.value.upper()}{label}: {finding.scope.label} ({finding.rule}, {finding.period})"
    return NotificationDraft(
        dedupe_key=key,
        kind=kind,
        audience=audience,
        rule=finding.rule,
        scope_kind=finding.scope.kind,
        scope_key=finding.scope.key,
        period=finding.period,
        level=finding.level,
        previous_level=previous,
        title=title,
        text=finding.summary,
        payload=finding.as_json(),
    )


def _quiet(status: AlertStatus, now: datetime) -> bool:
    return status.acked_at is not None or (status.snoozed_until is not None and as_utc(status.snoozed_until) > now)


def advance(
    previous: AlertStatus | None, finding: Finding, now: datetime, policy: LifecyclePolicy
) -> tuple[AlertStatus, list[NotificationDraft]]:
    """The next state and the notifications to record (the store drops any whose key already exists)."""
    now = as_utc(now)
    level = finding.level
    drafts: list[NotificationDraft] = []
    if previous is None or previous.level != level:
        status = AlertStatus(level=level, since=now)
        if previous is not None:
            # An ack or snooze given to a lower level does not cover a rise; it carries over otherwise.
            keep = severity(level) <= severity(previous.level)
            status = replace(
                status,
                acked_by=previous.acked_by if keep else None,
                acked_at=previous.acked_at if keep else None,
                snoozed_until=previous.snoozed_until if keep else None,
                escalated_at=previous.escalated_at if keep else None,
            )
        prev_level = previous.level if previous else None
        if level in ALERTING:
            drafts.append(_draft(finding, "alert", "owners", prev_level, dedupe_key(finding, level)))
        elif level is Level.OK and prev_level in ALERTING and finding.rule not in SILENT_RECOVERY:
            drafts.append(_draft(finding, "recovery", "owners", prev_level, dedupe_key(finding, level)))
        elif level is Level.NO_DATA and prev_level in ALERTING:
            drafts.append(_draft(finding, "alert", "owners", prev_level, dedupe_key(finding, level)))
    else:
        status = previous
    if level in ALERTING and not _quiet(status, now):
        age = now - as_utc(status.since)
        if (
            level is Level.RED
            and policy.escalate_after is not None
            and status.escalated_at is None
            and age >= policy.escalate_after
        ):
            drafts.append(
                _draft(
                    finding,
                    "escalation",
                    "leadership",
                    status.level,
                    dedupe_key(finding, level, "escalation"),
                )
            )
            status = replace(status, escalated_at=now)
        if policy.resend_every is not None and age >= policy.resend_every:
            n = int(age / policy.resend_every)
            drafts.append(
                _draft(finding, "reminder", "owners", status.level, dedupe_key(finding, level, f"reminder-{n}"))
            )
    return status, drafts
