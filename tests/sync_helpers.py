"""Shared builders for the sync tests: a fixed clock, a sleep that advances a fake timer, ledger reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from aispend.core.ledger.models import (
    AgentRun,
    CallRecord,
    CallRollup,
    CallRollupDaily,
    CostLine,
    ProviderUsage,
    SyncState,
)

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


def call_rows(engine: Engine) -> dict[str, dict[str, Any]]:
    """The per-call ledger by call key."""
    table = CallRecord.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {row["call_key"]: dict(row) for row in conn.execute(select(table)).mappings()}


def call_totals(engine: Engine) -> dict[str, tuple[Any, ...]]:
    """(calls, input tokens, output tokens, cost) as the raw calls, the hourly and daily rollups and the
    run totals each hold them: all four must agree after any sync."""
    out: dict[str, tuple[Any, ...]] = {}
    with engine.connect() as conn:
        calls = CallRecord.__table__  # type: ignore[attr-defined]
        out["calls"] = tuple(
            conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(calls.c.input_tokens), 0),
                    func.coalesce(func.sum(calls.c.output_tokens), 0),
                    func.coalesce(func.sum(calls.c.cost), 0),
                )
            ).one()
        )
        for name, model in (("hourly", CallRollup), ("daily", CallRollupDaily)):
            t = model.__table__  # type: ignore[attr-defined]
            out[name] = tuple(
                conn.execute(
                    select(
                        func.coalesce(func.sum(t.c.calls), 0),
                        func.coalesce(func.sum(t.c.input_tokens), 0),
                        func.coalesce(func.sum(t.c.output_tokens), 0),
                        func.coalesce(func.sum(t.c.cost), 0),
                    )
                ).one()
            )
        runs = AgentRun.__table__  # type: ignore[attr-defined]
        run_calls = select(func.count()).select_from(calls).where(calls.c.run_id != "")
        run_cost = select(func.coalesce(func.sum(calls.c.cost), 0)).where(calls.c.run_id != "")
        out["runs"] = tuple(
            conn.execute(
                select(func.coalesce(func.sum(runs.c.calls), 0), func.coalesce(func.sum(runs.c.cost), 0))
            ).one()
        )
        out["runs_expected"] = (conn.execute(run_calls).scalar_one(), conn.execute(run_cost).scalar_one())
    return out
