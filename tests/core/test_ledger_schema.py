from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, inspect, select
from sqlmodel import Session

from aispend.core.ledger.db import upgrade
from aispend.core.ledger.models import CostLine


def _line(key: str, amount: str) -> CostLine:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return CostLine(
        source="test",
        natural_key=key,
        charge_period_start=start,
        charge_period_end=start,
        charge_day=date(2026, 11, 1),
        billed_cost=Decimal(amount),
        billing_currency="USD",
        ingested_at=start,
    )


def test_upgrade_is_idempotent_and_creates_the_ledger(engine: Engine) -> None:
    upgrade(engine)  # second time: nothing to do, no error
    names = set(inspect(engine).get_table_names())
    assert {"cost_line", "call_record", "call_rollup", "agent_run", "workflow", "outcome", "sync_state"} <= names


def test_money_round_trips_exactly_and_sums_exactly(engine: Engine) -> None:
    amounts = ["0.00000000001", "20.52022672898", "-3.000000000005", "1234567.123456789012"]
    with Session(engine) as session:
        for i, amount in enumerate(amounts):
            session.add(_line(f"k{i}", amount))
        session.commit()
        stored = session.execute(select(CostLine.billed_cost).order_by(CostLine.natural_key)).scalars().all()
        total = session.execute(select(func.sum(CostLine.billed_cost))).scalar_one()
    assert stored == [Decimal(a) for a in amounts]
    assert total == sum(Decimal(a) for a in amounts)
    assert isinstance(total, Decimal)


def test_money_refuses_float(engine: Engine) -> None:
    with Session(engine) as session:
        line = _line("f", "1")
        line.billed_cost = 1.5  # type: ignore[assignment]
        session.add(line)
        with pytest.raises(Exception, match="float"):
            session.commit()


def test_migrations_create_exactly_what_the_models_declare(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []
