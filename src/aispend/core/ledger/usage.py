"""Idempotent writes of provider usage: upsert by (source, natural_key); a restated window replaces."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, select

from aispend.core.ledger.bulk import stored_by_key
from aispend.core.ledger.costlines import UpsertResult
from aispend.core.ledger.models import ProviderUsage

_TABLE = ProviderUsage.__table__  # type: ignore[attr-defined]
_BATCH = 500


@dataclass(frozen=True)
class UsageLineIn:
    """One day of token usage for one group, as a connector reports it."""

    source: str
    natural_key: str
    day: date
    provider: str
    model: str = ""
    sub_account: str = ""
    api_key_id: str = ""
    service_tier: str = ""
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    workflow: str = ""
    feature: str = ""
    team: str = ""
    customer: str = ""


_CONTENT = [f for f in UsageLineIn.__dataclass_fields__ if f not in ("source", "natural_key")]


def upsert_usage_lines(
    conn: Connection,
    lines: Iterable[UsageLineIn],
    *,
    now: datetime,
    replace_window: tuple[str, date, date] | None = None,
) -> UpsertResult:
    """Insert new rows, update changed ones, keep identical ones; with `replace_window` (end exclusive)
    delete that source's rows in the window which the new pull no longer has."""
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for line in lines:
        row = asdict(line)
        row["ingested_at"] = now
        by_key[(line.source, line.natural_key)] = row  # a repeated key: the later row wins
    result = UpsertResult()
    keys = list(by_key)
    for start in range(0, len(keys), _BATCH):
        chunk = keys[start : start + _BATCH]
        existing = stored_by_key(conn, _TABLE, keys=chunk)
        inserts = [by_key[key] for key in chunk if key not in existing]
        if inserts:
            conn.execute(_TABLE.insert(), inserts)
            result.inserted += len(inserts)
        for key in chunk:
            stored = existing.get(key)
            if stored is None:
                continue
            new = by_key[key]
            if all(getattr(stored, name) == new[name] for name in _CONTENT):
                result.unchanged += 1
                continue
            conn.execute(
                _TABLE.update()
                .where(and_(_TABLE.c.source == key[0], _TABLE.c.natural_key == key[1]))
                .values(**{k: v for k, v in new.items() if k not in ("source", "natural_key")})
            )
            result.updated += 1
    if replace_window is not None:
        source, first_day, end_day = replace_window
        seen = {key for src, key in by_key if src == source}
        stale = [
            key
            for key in conn.execute(
                select(_TABLE.c.natural_key).where(
                    _TABLE.c.source == source, _TABLE.c.day >= first_day, _TABLE.c.day < end_day
                )
            ).scalars()
            if key not in seen
        ]
        for start in range(0, len(stale), _BATCH):
            chunk_keys = stale[start : start + _BATCH]
            conn.execute(delete(_TABLE).where(_TABLE.c.source == source, _TABLE.c.natural_key.in_(chunk_keys)))
        result.removed = len(stale)
    return result
