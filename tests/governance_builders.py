"""Small builders that put governance test data straight into the ledger tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from aispend.core.governance.models import Notification
from aispend.core.ledger.calls import ROLLUP_KEY, apply_rollup_deltas
from aispend.core.ledger.models import AgentRun, CallRecord, CallRollup


def rollup(
    day: date,
    cost: str,
    workflow: str = "wf",
    *,
    hour: int = 12,
    team: str = "t",
    model: str = "m",
    provider: str = "openai",
    currency: str = "USD",
    calls: int = 10,
    tokens: int = 1000,
) -> CallRollup:
    return CallRollup(
        hour=datetime.combine(day, time(hour), tzinfo=UTC),
        day=day,
        provider=provider,
        model=model,
        workflow=workflow,
        team=team,
        currency=currency,
        calls=calls,
        input_tokens=tokens,
        cost=Decimal(cost),
    )


def insert(engine: Engine, *rows: object) -> None:
    """Add rows; rollups go through the ledger's own delta path, which keeps hourly and daily in step."""
    rollups = [r for r in rows if isinstance(r, CallRollup)]
    with engine.begin() as conn:
        apply_rollup_deltas(conn, [_rollup_delta(r) for r in rollups])
    with Session(engine) as session:
        session.add_all([r for r in rows if not isinstance(r, CallRollup)])
        session.commit()


_MEASURES = (
    "calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "unpriced_calls",
    "unpriced_tokens",
    "zero_cost_calls",
    "latency_ms_sum",
)


def _rollup_delta(row: CallRollup) -> dict[str, object]:
    return {name: getattr(row, name) for name in (*ROLLUP_KEY, "day", *_MEASURES)}


def run(run_id: str, workflow: str, day: date, cost: str, outcome: str = "") -> AgentRun:
    start = datetime.combine(day, time(10), tzinfo=UTC)
    return AgentRun(
        run_id=run_id,
        workflow=workflow,
        started_at=start,
        ended_at=start + timedelta(minutes=1),
        day=day,
        calls=3,
        cost=Decimal(cost),
        currency="USD",
        outcome=outcome,
    )


def call(key: str, run_id: str, workflow: str, step: str, model: str, ts: datetime, tokens: int = 100) -> CallRecord:
    return CallRecord(
        call_key=key,
        ts=ts,
        provider="openai",
        model=model,
        input_tokens=tokens,
        output_tokens=10,
        cost=Decimal("0.01"),
        currency="USD",
        cost_source="given",
        workflow=workflow,
        run_id=run_id,
        step=step,
        ingested_at=ts,
    )


def pending_notification(
    engine: Engine,
    period: str,
    created_at: datetime,
    *,
    rule: str = "share",
    scope_key: str = "wf",
    payload: dict[str, Any] | None = None,
) -> int:
    """A pending yellow alert notification as an earlier version stored it (its finding has no span);
    `payload` overrides parts of the finding. Returns its id."""
    finding = {
        "rule": rule,
        "scope": {"kind": "workflow", "key": scope_key},
        "period": period,
        "level": "yellow",
        "basis": "actual",
        "summary": f"workflow {scope_key}: stored by an earlier version ({period})",
        "numbers": {},
    }
    note = Notification(
        dedupe_key=f"{rule}|workflow:{scope_key}|{period}|yellow",
        kind="alert",
        audience="owners",
        rule=rule,
        scope_kind="workflow",
        scope_key=scope_key,
        period=period,
        level="yellow",
        title=f"YELLOW: workflow {scope_key} ({rule}, {period})",
        text=str(finding["summary"]),
        payload={**finding, **(payload or {})},
        created_at=created_at,
    )
    with Session(engine) as session:
        session.add(note)
        session.commit()
        assert note.id is not None
        return note.id
