"""Shared builders for the sync tests: a fixed clock, a sleep that advances a fake timer, ledger reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from aispend.core.ledger.models import CostLine, ProviderUsage, SyncState

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@dataclass
class FakeTime:
    """A monotonic timer that only moves when the code under test sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def timer(self) -> float:
        return self.now


def fixed_clock(value: datetime = NOW) -> Any:
    return lambda: value


def cost_rows(engine: Engine, source: str | None = None) -> list[dict[str, Any]]:
    table = CostLine.__table__  # type: ignore[attr-defined]
    query = select(table).order_by(table.c.source, table.c.natural_key)
    if source:
        query = query.where(table.c.source == source)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def usage_rows(engine: Engine, source: str | None = None) -> list[dict[str, Any]]:
    table = ProviderUsage.__table__  # type: ignore[attr-defined]
    query = select(table).order_by(table.c.source, table.c.natural_key)
    if source:
        query = query.where(table.c.source == source)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def sync_state(engine: Engine, source: str) -> dict[str, Any] | None:
    table = SyncState.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.source == source)).mappings().first()
    return dict(row) if row else None
