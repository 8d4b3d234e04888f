"""Ledger rows for the Slack tests: a few workflows with hourly rollups, runs and outcomes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session

from aispend.core.ledger.models import AgentRun, CallRollup, CallRollupDaily, CostLine, Outcome, SyncState, Workflow

WORKFLOWS = {
    "support-triage": ("Support triage", "U0OWNER", "resolved ticket", Decimal("40")),
    "code-review": ("Code review", "U0DEV", "merged PR", Decimal("25")),
    "sales-emails": ("Sales e-mails", "", "", Decimal("8")),
}


def seed(engine: Engine, first: date, days: int, now: datetime) -> None:
    with Session(engine) as session:
        for key, (label, owner, unit, _) in WORKFLOWS.items():
            session.add(
                Workflow(
                    key=key,
                    display_name=label,
                    owner=owner,
                    team="support" if key == "support-triage" else "eng",
                    outcome_unit=unit,
                    updated_at=now,
                )
            )
        for offset in range(days):
            day = first + timedelta(days=offset)
            for key, (_, _, _, per_day) in WORKFLOWS.items():
                hour = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
                dims = {
                    "day": day, "provider": "openai", "model": "gpt-5", "workflow": key, "currency": "USD",
                    "team": "support" if key == "support-triage" else "eng", "calls": 100,
                    "cost": per_day + Decimal(offset) / 10,
                }  # fmt: skip
                # One call hour per day, so the hourly and daily rollups hold the same figures.
                session.add(CallRollup(hour=hour, **dims))
                session.add(CallRollupDaily(**dims))
                session.add(
                    AgentRun(
                        run_id=f"{key}-{day}",
                        workflow=key,
                        started_at=hour,
                        ended_at=hour,
                        day=day,
                        calls=100,
                        cost=per_day,
                        currency="USD",
                    )
                )
            session.add(Outcome(workflow="support-triage", day=day, count=20))
        session.add(
            SyncState(
                source="openai",
                last_success_at=now - timedelta(hours=2),
                freshest_data_at=now - timedelta(hours=3),
            )
        )
        session.commit()


def seed_openai_bills(engine: Engine, first: date, days: int, amount: Decimal, now: datetime) -> None:
    """An OpenAI bill line of `amount` a day (AI spend), for reconciliation against the seeded logs."""
    with Session(engine) as session:
        for offset in range(days):
            day = first + timedelta(days=offset)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            session.add(CostLine(
                source="openai", natural_key=f"bill-{day}", charge_period_start=start,
                charge_period_end=start + timedelta(days=1), charge_day=day, billed_cost=amount,
                billing_currency="USD", provider="OpenAI", service_name="OpenAI API", is_ai=True, ingested_at=now,
            ))  # fmt: skip
        session.commit()
