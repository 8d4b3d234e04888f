"""Per-source freshness for `aispend status`, `aispend connectors check` and, later, the digest."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from aispend.core.ledger.models import SyncState
from aispend.core.redact import redact_optional
from aispend.core.timeutil import as_utc

_STATE = SyncState.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SourceStatus:
    source: str
    configured: bool
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    freshest_data_at: datetime | None
    requests_last_sync: int
    staleness: timedelta | None  # now - last success; None when never synced
    data_age: timedelta | None  # now - freshest data point
    stale: bool
    failing: bool  # the last attempt failed (an error newer than the last success)

    @property
    def state(self) -> str:
        if not self.configured:
            return "not configured"
        if self.last_success_at is None:
            return "failing" if self.failing else "never synced"
        if self.failing:
            return "failing"
        return "stale" if self.stale else "ok"


def source_status(
    source: str, configured: bool, state: dict[str, Any] | None, now: datetime, stale_after: timedelta
) -> SourceStatus:
    """One source's status from its sync_state row. Pure."""
    state = state or {}
    success = _utc(state.get("last_success_at"))
    error_at = _utc(state.get("last_error_at"))
    staleness = now - success if success else None
    freshest = _utc(state.get("freshest_data_at"))
    return SourceStatus(
        source=source,
        configured=configured,
        last_success_at=success,
        last_error=redact_optional(state.get("last_error")),  # also what was stored before redaction
        last_error_at=error_at,
        freshest_data_at=freshest,
        requests_last_sync=int(state.get("requests_last_sync") or 0),
        staleness=staleness,
        data_age=now - freshest if freshest else None,
        stale=staleness is None or staleness > stale_after,
        failing=error_at is not None and (success is None or error_at > success),
    )


def load_states(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {row["source"]: dict(row) for row in conn.execute(select(_STATE)).mappings()}


def statuses(
    engine: Engine, sources: Iterable[tuple[str, bool]], now: datetime, stale_after: timedelta
) -> list[SourceStatus]:
    """Status of every (source, configured) pair, plus sources with state but no longer registered."""
    states = load_states(engine)
    listed = list(sources)
    names = {name for name, _ in listed}
    result = [source_status(name, configured, states.get(name), now, stale_after) for name, configured in listed]
    for name in sorted(set(states) - names):
        result.append(source_status(name, False, states[name], now, stale_after))
    return result


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def describe_age(age: timedelta | None) -> str:
    if age is None:
        return "never"
    seconds = int(age.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
