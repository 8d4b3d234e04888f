"""How fresh a billing source is, from its sync_state row (pure).

The one reading behind `aispend status`, the App Home's and the digest's source lines and the
dq_stale_source finding; the limit is AISPEND_SYNC_STALE_HOURS. Two ages are read, and each reader
says which one it judges by:

* `stale`: no successful sync within the limit (`aispend status`, App Home, digest);
* `data_stale`: the newest data the source holds (its freshest data point, else its last success)
  is older than the limit (the data-quality finding).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aispend.core.timeutil import as_utc


@dataclass(frozen=True, slots=True)
class Freshness:
    source: str
    configured: bool
    last_success_at: datetime | None
    last_error: str | None  # as the ledger read gives it (redacted there)
    last_error_at: datetime | None
    freshest_data_at: datetime | None
    requests_last_sync: int
    staleness: timedelta | None  # now - last success; None when never synced
    data_age: timedelta | None  # now - freshest data point
    stale: bool  # no success within the limit
    failing: bool  # the last attempt failed (an error newer than the last success)
    seen_age: timedelta | None  # now - (freshest data point, else last success); None: never synced
    data_stale: bool  # seen_age over the limit

    @property
    def seen_at(self) -> datetime | None:
        """The newest point the source's data is known to reach."""
        return self.freshest_data_at or self.last_success_at

    @property
    def state(self) -> str:
        if not self.configured:
            return "not configured"
        if self.last_success_at is None:
            return "failing" if self.failing else "never synced"
        if self.failing:
            return "failing"
        return "stale" if self.stale else "ok"


def read_freshness(
    source: str, row: Mapping[str, Any] | None, now: datetime, stale_after: timedelta, *, configured: bool = True
) -> Freshness:
    """One source's freshness from its sync_state row (None: no row yet) as of `now`."""
    row = row or {}
    now = as_utc(now)
    success = _utc(row.get("last_success_at"))
    error_at = _utc(row.get("last_error_at"))
    freshest = _utc(row.get("freshest_data_at"))
    staleness = now - success if success else None
    seen = freshest or success
    seen_age = now - seen if seen else None
    return Freshness(
        source=source,
        configured=configured,
        last_success_at=success,
        last_error=row.get("last_error"),
        last_error_at=error_at,
        freshest_data_at=freshest,
        requests_last_sync=int(row.get("requests_last_sync") or 0),
        staleness=staleness,
        data_age=now - freshest if freshest else None,
        stale=staleness is None or staleness > stale_after,
        failing=error_at is not None and (success is None or error_at > success),
        seen_age=seen_age,
        data_stale=seen_age is not None and seen_age > stale_after,
    )


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None
