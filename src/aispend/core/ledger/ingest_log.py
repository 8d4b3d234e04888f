"""The live ingest log: one `ingest_batch` row per batch a live path lands.

Every live path (a streaming `aispend ingest calls -` / `--follow` commit, the OTLP/HTTP and JSON
receiver's request) calls `record_ingest_batch` inside the transaction that writes the batch's rows,
so the log and the ledger never disagree: a rolled-back batch leaves no log row. `aispend status` and
/metrics read it through `live_sources`; the retention job trims it (`purge_ingest_log`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select
from sqlmodel import Session

from aispend.core.ledger.models import IngestBatch, table_of
from aispend.core.timeutil import as_utc

BATCHES = table_of(IngestBatch)
LAST_HOUR = timedelta(hours=1)


def record_ingest_batch(
    session: Session | Connection,
    *,
    source: str,
    token_name: str,
    accepted: int,
    refused: int,
    received_at: datetime,
) -> None:
    """Log one landed batch in the caller's transaction (never commits). `source`: the live path
    ("stdin", "follow", "otlp", "calls-api"...); `token_name`: the ingest token's name, "" for none;
    `accepted`: rows stored or already in the ledger; `refused`: rows rejected with a reason."""
    if accepted < 0 or refused < 0:
        raise ValueError(f"accepted ({accepted}) and refused ({refused}) cannot be negative")
    session.execute(
        insert(BATCHES).values(
            source=source[:64],
            token_name=token_name[:128],
            received_at=as_utc(received_at),
            accepted=accepted,
            refused=refused,
        )
    )


@dataclass(frozen=True, slots=True)
class LiveSource:
    """One (source, token name): its last batch ever, and what the batches of the last hour carried."""

    source: str
    token_name: str
    last_batch_at: datetime
    batches_last_hour: int
    accepted_last_hour: int
    refused_last_hour: int


def live_sources(conn: Connection | Session, now: datetime) -> list[LiveSource]:
    """Every (source, token name) in the log, by source then token name."""
    since = as_utc(now) - LAST_HOUR
    recent = BATCHES.c.received_at >= since
    stmt = (
        select(
            BATCHES.c.source,
            BATCHES.c.token_name,
            func.max(BATCHES.c.received_at),
            func.count().filter(recent),
            func.coalesce(func.sum(BATCHES.c.accepted).filter(recent), 0),
            func.coalesce(func.sum(BATCHES.c.refused).filter(recent), 0),
        )
        .group_by(BATCHES.c.source, BATCHES.c.token_name)
        .order_by(BATCHES.c.source, BATCHES.c.token_name)
    )
    return [
        LiveSource(source, token, as_utc(last), int(batches), int(accepted), int(refused))
        for source, token, last, batches, accepted, refused in conn.execute(stmt)
    ]


def purge_ingest_log(conn: Connection, before: datetime) -> int:
    """Delete the log rows received before `before`; returns how many went."""
    result = conn.execute(delete(BATCHES).where(BATCHES.c.received_at < as_utc(before)))
    return int(result.rowcount or 0)
