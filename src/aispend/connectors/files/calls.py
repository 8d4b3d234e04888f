"""Import per-call logs: read -> normalize -> price -> write, in batches, one transaction per batch.

A crash mid-file loses nothing already committed, and a re-run skips what is there (natural keys).
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from aispend.connectors.files.call_schema import (
    DEFAULT_MAX_CALL_COST,
    CallLimits,
    RowError,
    build_call,
    implausible,
    normalize_call,
)
from aispend.connectors.files.readers import SourceRow
from aispend.connectors.files.streaming import timed_batches
from aispend.core.ledger.calls import (
    BatchTotals,
    CallEncoder,
    StoredCall,
    batch_totals,
    conflicting_calls,
    cost_inserted,
    insert_encoded,
    last_call_id,
    purge_watermark,
)
from aispend.core.ledger.ingest_log import record_ingest_batch
from aispend.core.ledger.models import COST_GIVEN, COST_PRICED, COST_UNPRICED
from aispend.core.ledger.types import money_limit
from aispend.core.pricing import PriceBook
from aispend.core.timeutil import Clock

MAX_LISTED_REJECTIONS = 1000


@dataclass(frozen=True, slots=True)
class Rejection:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class ImportSummary:
    rows_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected_count: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    cost_sources: Counter[str] = field(default_factory=Counter)
    unpriced_models: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # provider, model, why
    zero_cost_flagged: int = 0
    cost_inserted: dict[str, Decimal] = field(default_factory=dict)

    def reject(self, rejection: Rejection) -> None:
        self.rejected_count += 1
        if len(self.rejections) < MAX_LISTED_REJECTIONS:
            self.rejections.append(rejection)

    def add(self, part: ImportSummary) -> None:
        """Count in another part of the same import (a chunk done by a worker process)."""
        self.rows_read += part.rows_read
        self.inserted += part.inserted
        self.duplicates += part.duplicates
        self.rejected_count += part.rejected_count
        self.rejections.extend(part.rejections[: max(0, MAX_LISTED_REJECTIONS - len(self.rejections))])
        self.cost_sources.update(part.cost_sources)
        self.unpriced_models.update(part.unpriced_models)
        self.zero_cost_flagged += part.zero_cost_flagged


def price_call(call: StoredCall, prices: PriceBook) -> None:
    """Decide the call's cost, in place: as given, priced at its own timestamp, or unpriced (never 0)."""
    if not call.provider:
        call.provider = prices.provider_for(call.model) or "unknown"
    if call.cost is not None:
        call.cost_source = COST_GIVEN
        call.zero_cost_flag = call.cost == 0 and call.input_tokens + call.output_tokens > 0
        return
    call.cost = prices.cost_of(
        call.provider,
        call.model,
        call.ts,
        call.input_tokens,
        call.output_tokens,
        call.cache_read_tokens,
        call.cache_write_tokens,
        call.cache_write_1h_tokens,
        call.service_tier,
    )
    call.cost_source = COST_PRICED if call.cost is not None else COST_UNPRICED


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Run the cyclic garbage collector less often while importing.

    An import allocates millions of short-lived containers (rows, tuples) and makes no reference
    cycles worth chasing; at the default threshold (700) the collector ran every few rows' worth of
    allocations and cost about a tenth of the import's CPU time (measured)."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def import_calls(
    engine: Engine,
    rows: Iterable[SourceRow],
    *,
    now: datetime,
    prices: PriceBook | None = None,
    default_currency: str = "USD",
    batch_size: int = 20000,
    on_batch: Callable[[ImportSummary], None] | None = None,
    limits: CallLimits | None = None,
) -> ImportSummary:
    """Import rows in this process (see ingest.parallel for large JSONL files). `limits`: by default
    the default cost limit and the database's storage limit, no time window (`now` is the ingestion
    stamp, which a loader of generated data may set anywhere); the CLI passes the window around its
    clock (CallLimits.at)."""
    prices = prices or PriceBook()
    limits = limits or default_limits(engine)
    summary = ImportSummary()
    with engine.connect() as conn:
        watermark = purge_watermark(conn)
        first_id = last_call_id(conn)
    encoder = CallEncoder(type(engine.dialect))
    with fewer_gc_passes():
        for batch in _batches(rows, batch_size):
            origins: list[SourceRow] = []
            calls = stored_calls(batch, prices, default_currency, watermark, summary, limits, origins)
            encoded = encoder.encode(calls, now)
            write_batch(engine, encoded, batch_totals(encoded, encoder.sqlite), now, summary, origins)
            if on_batch:
                on_batch(summary)
    finish_summary(engine, summary, first_id, now)
    return summary


def stream_calls(
    engine: Engine,
    rows: Iterable[SourceRow],
    *,
    clock: Clock,
    source: str,
    limits_at: Callable[[datetime], CallLimits],
    prices: PriceBook | None = None,
    default_currency: str = "USD",
    commit_rows: int = 1000,
    commit_seconds: float = 2.0,
    monotonic: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
    on_batch: Callable[[ImportSummary], None] | None = None,
    token_name: str = "",
) -> ImportSummary:
    """Import rows as they arrive (stdin, a followed file): a commit every `commit_rows` rows or
    `commit_seconds` after a batch's first row, whichever comes first, even while the input is silent
    (streaming.timed_batches). Each batch is stamped with `clock()` at its commit, has its own time
    window (`limits_at`), and logs itself in the live ingest log in its own transaction. Setting `stop`
    commits what has been read and returns."""
    prices = prices or PriceBook()
    summary = ImportSummary()
    encoder = CallEncoder(type(engine.dialect))
    for batch in timed_batches(rows, rows=commit_rows, seconds=commit_seconds, monotonic=monotonic, stop=stop):
        now = clock()
        with engine.connect() as conn:
            watermark = purge_watermark(conn)
            first_id = last_call_id(conn)
        refused_before = summary.rejected_count
        origins: list[SourceRow] = []
        calls = stored_calls(batch, prices, default_currency, watermark, summary, limits_at(now), origins)
        encoded = encoder.encode(calls, now)
        log = BatchLog(source, token_name, now, summary.rejected_count - refused_before)
        write_batch(engine, encoded, batch_totals(encoded, encoder.sqlite), now, summary, origins, log)
        with engine.connect() as conn:
            for currency, amount in cost_inserted(conn, first_id, now=now).items():
                summary.cost_inserted[currency] = summary.cost_inserted.get(currency, Decimal(0)) + amount
        if on_batch:
            on_batch(summary)
    return summary


def default_limits(engine: Engine) -> CallLimits:
    return CallLimits(DEFAULT_MAX_CALL_COST, money_limit(engine.dialect.name))


@dataclass(frozen=True, slots=True)
class BatchLog:
    """The live ingest log row of a streamed batch (core/ledger/ingest_log.py): written in the batch's
    transaction. `refused`: the batch's rows rejected before the write (conflicts are added to it)."""

    source: str
    token_name: str
    received_at: datetime
    refused: int


def write_batch(
    engine: Engine,
    encoded: list[tuple[Any, ...]],
    totals: BatchTotals,
    now: datetime,
    summary: ImportSummary,
    origins: Sequence[SourceRow],
    log: BatchLog | None = None,
) -> None:
    """One transaction per batch: a crash loses at most this batch, and a re-run skips what is there.
    A skipped row whose call id is in the ledger with other values is a rejection that shows both
    (`origins`: the source row of each encoded row).

    On SQLite the transaction takes the database's write lock first (BEGIN IMMEDIATE), so that the id
    range read at its start stays this batch's even while other processes write."""
    conflicts: list[tuple[int, str]] = []
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        inserted = insert_encoded(conn, encoded, now=now, totals=totals)
        if inserted < len(encoded):
            conflicts = conflicting_calls(conn, encoded)
        if log is not None:
            record_ingest_batch(
                conn,
                source=log.source,
                token_name=log.token_name,
                accepted=len(encoded) - len(conflicts),
                refused=log.refused + len(conflicts),
                received_at=log.received_at,
            )
        conn.commit()
    summary.inserted += inserted
    summary.duplicates += len(encoded) - inserted - len(conflicts)
    for index, differences in conflicts:
        row = origins[index]
        summary.reject(
            Rejection(
                row.file,
                row.line,
                f"this call id is already in the ledger with other values ({differences}): not imported; "
                "the ledger keeps the first version",
            )
        )


def finish_summary(engine: Engine, summary: ImportSummary, first_id: int, now: datetime) -> None:
    with engine.connect() as conn:
        summary.cost_inserted = cost_inserted(conn, first_id, now=now)


def stored_calls(
    rows: Iterable[SourceRow],
    prices: PriceBook,
    default_currency: str,
    watermark: datetime | None,
    summary: ImportSummary,
    limits: CallLimits = CallLimits(),
    origins: list[SourceRow] | None = None,
) -> list[StoredCall]:
    """The importable calls of a batch of rows, priced; rejected rows and the batch's counts go to
    the summary, and the source row of each call to `origins` when given."""
    calls: list[StoredCall] = []
    keep = calls.append
    unpriced_models = summary.unpriced_models
    read = flagged = 0
    admits = limits.admits
    for row in rows:
        read += 1
        values = row.values
        try:
            if values is not None:
                call = build_call(values, default_currency)
            elif row.fields is not None:
                call = normalize_call(row.fields, default_currency)
            else:
                summary.reject(Rejection(row.file, row.line, row.error or "unreadable row"))
                continue
        except RowError as exc:
            summary.reject(Rejection(row.file, row.line, str(exc)))
            continue
        if watermark is not None and call.ts < watermark:
            summary.reject(
                Rejection(
                    row.file,
                    row.line,
                    f"older than the raw-call retention watermark {watermark.isoformat()} (that hour is sealed "
                    "in the rollups; raise AISPEND_CALL_RETENTION_DAYS before importing older logs)",
                )
            )
            continue
        price_call(call, prices)
        if not admits(call):
            summary.reject(Rejection(row.file, row.line, implausible(call, limits) or "refused"))
            continue
        if origins is not None:
            origins.append(row)
        if call.cost is None:
            why = prices.unpriced_reason(
                call.provider, call.model, call.ts, call.service_tier, call.cache_write_1h_tokens
            )
            unpriced_models[(call.provider, call.model, why)] += 1
        elif call.zero_cost_flag:
            flagged += 1
        keep(call)
    summary.rows_read += read
    summary.zero_cost_flagged += flagged
    summary.cost_sources.update(call.cost_source for call in calls)
    return calls


def _batches(items: Iterable[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    batch: list[SourceRow] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
