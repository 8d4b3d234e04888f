"""Small builders that put governance test data straight into the ledger tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session

from aispend.ledger.models import AgentRun, CallRecord, CallRollup


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
    with Session(engine) as session:
        session.add_all(rows)
        session.commit()


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


def call(
    key: str, run_id: str, workflow: str, step: str, model: str, ts: datetime, tokens: int = 100
) -> CallRecord:
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
