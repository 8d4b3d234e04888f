"""Per-source freshness for `aispend status` and `aispend connectors check` (the reading itself is
`core.rules.freshness`, which the App Home, the digest and the data-quality finding share)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from aispend.core.ledger.ingest_log import LiveSource, live_sources
from aispend.core.ledger.queries import sync_states
from aispend.core.rules.freshness import Freshness, read_freshness


def load_states(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return sync_states(conn)


def statuses(
    engine: Engine, sources: Iterable[tuple[str, bool]], now: datetime, stale_after: timedelta
) -> list[Freshness]:
    """Status of every (source, configured) pair, plus sources with state but no longer registered."""
    states = load_states(engine)
    listed = list(sources)
    names = {name for name, _ in listed}
    result = [read_freshness(name, states.get(name), now, stale_after, configured=c) for name, c in listed]
    for name in sorted(set(states) - names):
        result.append(read_freshness(name, states[name], now, stale_after, configured=False))
    return result


def describe_age(age: timedelta | None) -> str:
    if age is None:
        return "never"
    seconds = int(age.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def live_statuses(engine: Engine, now: datetime) -> list[LiveSource]:
    """Each live source (streaming imports, the receiver) by token name: its last batch, and the rows
    accepted and refused in the last hour (the live ingest log)."""
    with engine.connect() as conn:
        return live_sources(conn, now)
