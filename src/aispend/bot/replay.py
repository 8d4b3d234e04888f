"""A signed Slack request is let through once: its signature is recorded in the database (so every
process and replica sees it) for as long as Slack's verifier would accept its timestamp, plus a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from aispend.bot.models import SeenRequest
from aispend.core.timeutil import Clock, as_utc, system_clock

SLACK_WINDOW = timedelta(minutes=5)  # slack_sdk's SignatureVerifier refuses timestamps further away
KEEP = SLACK_WINDOW + timedelta(minutes=1)


def expires_at(timestamp: int, now: datetime) -> datetime:
    """Until when a request with this timestamp could still pass verification (a timestamp may be up
    to five minutes ahead of our clock), plus a minute of margin."""
    return max(as_utc(now), datetime.fromtimestamp(timestamp, UTC)) + KEEP


class ReplayGuard:
    def __init__(self, engine: Engine, clock: Clock = system_clock) -> None:
        # The real clock by default: Slack's window is in real time, as the signature check is.
        self.engine = engine
        self.clock = clock
        insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        # RETURNING says whether the row went in (rowcount is not reliable for ON CONFLICT on every driver).
        self._insert = (
            insert(SeenRequest)
            .on_conflict_do_nothing(index_elements=["signature"])
            .returning(col(SeenRequest.signature))
        )

    def first_time(self, signature: str, timestamp: int) -> bool:
        """Record the request; False when it was recorded before (a replay, by any process)."""
        now = self.clock()
        key = signature.removeprefix("v0=")[:64]
        with self.engine.begin() as conn:
            inserted = conn.execute(self._insert.values(signature=key, expires_at=expires_at(timestamp, now))).first()
        self.purge(now)
        return inserted is not None

    def purge(self, now: datetime) -> int:
        """Forget signatures whose window is over; returns how many."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(SeenRequest).where(col(SeenRequest.expires_at) < as_utc(now)))
        return int(result.rowcount or 0)
