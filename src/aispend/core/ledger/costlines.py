"""Idempotent writes of bill lines: upsert by (source, natural_key); a restated window replaces."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, delete, select

from aispend.core.ledger.bulk import stored_by_key
from aispend.core.ledger.models import CostLine, table_of
from aispend.core.money import to_ledger

_TABLE = table_of(CostLine)
_BATCH = 500


@dataclass(frozen=True)
class CostLineIn:
    """A normalized bill line, as every connector and the FOCUS reader produce it."""

    source: str
    natural_key: str
    charge_period_start: datetime
    charge_period_end: datetime
    billed_cost: Decimal
    billing_currency: str
    provider: str = ""
    service_name: str = ""
    service_category: str = ""
    charge_category: str = ""
    effective_cost: Decimal | None = None
    list_cost: Decimal | None = None
    resource_id: str | None = None
    sku_id: str | None = None
    region: str | None = None
    consumed_quantity: Decimal | None = None
    consumed_unit: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    is_ai: bool = False
    workflow: str = ""
    feature: str = ""
    team: str = ""
    customer: str = ""
    environment: str = ""
    model: str = ""
    estimated: bool = False

    @property
    def charge_day(self) -> date:
        return self.charge_period_start.date()


_FIELDS = tuple(CostLineIn.__dataclass_fields__)

# Columns compared to decide whether a stored line changed (ingested_at is provenance, not content).
_CONTENT = [f for f in CostLineIn.__dataclass_fields__ if f not in ("source", "natural_key")]


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.removed += other.removed
        return self


def _row(line: CostLineIn, now: datetime) -> dict[str, Any]:
    # Shallow on purpose: asdict() would deep-copy every line's tags.
    row = {name: getattr(line, name) for name in _FIELDS}
    row["charge_day"] = line.charge_day
    row["ingested_at"] = now
    return row


def _same(stored: Any, new: dict[str, Any]) -> bool:
    for name in _CONTENT:
        old_value = getattr(stored, name)
        new_value = new[name]
        if isinstance(new_value, Decimal):
            new_value = to_ledger(new_value)
        if isinstance(old_value, datetime) and isinstance(new_value, datetime):
            if old_value != new_value:
                return False
        elif old_value != new_value:
            return False
    return True


def upsert_cost_lines(
    conn: Connection,
    lines: Iterable[CostLineIn],
    *,
    now: datetime,
    replace_window: tuple[str, date, date] | None = None,
) -> UpsertResult:
    """Insert new lines, update changed ones, leave identical ones untouched.

    With `replace_window=(source, first_day, end_day)` (end exclusive), lines of that source in the
    window that the new pull no longer contains are deleted: a restated day replaces, never adds.
    """
    result = UpsertResult()
    seen: set[str] = set()
    batch: list[CostLineIn] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= _BATCH:
            result += _write_batch(conn, batch, now, seen)
            batch = []
    if batch:
        result += _write_batch(conn, batch, now, seen)
    if replace_window is not None:
        result.removed = _remove_missing(conn, replace_window, seen)
    return result


def _write_batch(conn: Connection, batch: Sequence[CostLineIn], now: datetime, seen: set[str]) -> UpsertResult:
    result = UpsertResult()
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for line in batch:
        # A key repeated within one pull: the later row is the restated one.
        by_key[(line.source, line.natural_key)] = _row(line, now)
        seen.add(line.natural_key)
    existing = stored_by_key(conn, _TABLE, keys=by_key)
    inserts = [row for key, row in by_key.items() if key not in existing]
    if inserts:
        conn.execute(_TABLE.insert(), inserts)
        result.inserted = len(inserts)
    for key, row in by_key.items():
        stored = existing.get(key)
        if stored is None:
            continue
        if _same(stored, row):
            result.unchanged += 1
            continue
        conn.execute(
            _TABLE.update()
            .where(and_(_TABLE.c.source == key[0], _TABLE.c.natural_key == key[1]))
            .values(**{k: v for k, v in row.items() if k not in ("source", "natural_key")})
        )
        result.updated += 1
    return result


def _remove_missing(conn: Connection, window: tuple[str, date, date], seen: set[str]) -> int:
    source, first_day, end_day = window
    stale = [
        key
        for key in conn.execute(
            select(_TABLE.c.natural_key).where(
                _TABLE.c.source == source, _TABLE.c.charge_day >= first_day, _TABLE.c.charge_day < end_day
            )
        ).scalars()
        if key not in seen
    ]
    for start in range(0, len(stale), _BATCH):
        chunk = stale[start : start + _BATCH]
        conn.execute(delete(_TABLE).where(_TABLE.c.source == source, _TABLE.c.natural_key.in_(chunk)))
    return len(stale)
