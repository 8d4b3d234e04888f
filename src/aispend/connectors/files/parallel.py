"""Parallel import of large JSONL call logs: worker processes parse, validate, price and encode
chunks of lines, and write each chunk in its own transaction, one worker at a time (this import's
write lock). Only an in-memory SQLite database, which workers cannot open, is written by this
process, in file order. Same rows and same summary as the serial path; a bounded number of chunks
in flight keeps memory flat.

Workers die with this process, however it ends (kill -9 included): on Linux the kernel kills them
(PR_SET_PDEATHSIG), and everywhere a watchdog thread in each worker exits when its pipe from this
process reaches end of file (or, under the spawn start method, when the worker's parent changes).
A worker killed mid-chunk leaves nothing: its transaction is rolled back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import io
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Dialect, Engine

from aispend.connectors.files.call_decoder import iter_call_rows
from aispend.connectors.files.call_schema import CallLimits
from aispend.connectors.files.calls import (
    ImportSummary,
    Rejection,
    default_limits,
    finish_summary,
    stored_calls,
    write_batch,
)
from aispend.connectors.files.readers import READ_ERRORS, UTF8_BOM, FileReadError, SourceRow, read_failure
from aispend.core.ledger.calls import (
    BatchTotals,
    CallEncoder,
    batch_totals,
    last_call_id,
    purge_watermark,
)
from aispend.core.ledger.db import DEFAULT_SQLITE_LOCK_WAIT_SECONDS, make_engine
from aispend.core.pricing import CustomPrice, PriceBook

CHUNK_LINES = 20000
# Below this size the start-up of worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024


def default_workers() -> int:
    """One worker per core (measured on 2 cores: 2 workers import faster than 1)."""
    return max(1, os.cpu_count() or 1)


@dataclass
class _ChunkResult:
    summary: ImportSummary  # the chunk's counts, inserted and duplicates too once the worker wrote it
    rows: list[tuple[Any, ...]]  # left for this process to write (only when workers cannot open the database)
    totals: BatchTotals | None
    origins: list[SourceRow]  # the source row of each of `rows`


# Worker-process state, set once by the initializer.
_STATE: dict[str, Any] = {}
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_POLL_SECONDS = 0.5  # the spawn start method only: how often a worker looks for its parent


@dataclass(frozen=True)
class ParentLink:
    """How a worker knows its parent is gone: a pipe whose write end only the parent holds (under fork)."""

    parent_pid: int
    read_fd: int
    write_fd: int
    inherited: bool  # fork: the pipe's ends are the worker's too; spawn: only parent_pid is usable


def _die_with_parent(link: ParentLink) -> None:
    """Called first in every worker: from now on the worker does not outlive the process that started it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != link.parent_pid:  # the parent died before the line above: nobody will signal
        os._exit(1)
    if link.inherited:
        os.close(link.write_fd)  # else this worker's own copy would keep the pipe open forever
        threading.Thread(target=_exit_at_eof, args=(link.read_fd,), daemon=True, name="parent-watch").start()
    else:
        threading.Thread(target=_exit_when_orphaned, args=(link.parent_pid,), daemon=True, name="parent-watch").start()


def _exit_at_eof(fd: int) -> None:
    while os.read(fd, 1):
        pass
    os._exit(1)  # the parent is gone (end of file): stop at once, an open transaction rolls back


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _init_worker(
    link: ParentLink,
    custom: list[CustomPrice],
    dialect_class: type[Dialect],
    database_url: str | None,
    lock_wait: float,
    write_turn: Any,
    currency: str,
    watermark: datetime | None,
    now: datetime,
    limits: CallLimits,
) -> None:
    _die_with_parent(link)
    gc.set_threshold(100_000, *gc.get_threshold()[1:])  # see ingest.calls.fewer_gc_passes
    _STATE.update(
        write_turn=write_turn,
        prices=PriceBook(custom),
        encoder=CallEncoder(dialect_class),
        engine=make_engine(database_url, sqlite_lock_wait=lock_wait) if database_url else None,
        currency=currency,
        watermark=watermark,
        now=now,
        limits=limits,
    )


def _parse_chunk(name: str, first_line: int, data: bytes) -> _ChunkResult:
    summary = ImportSummary()
    rows_in = iter_call_rows(name, io.BytesIO(data), "jsonl", first_line=first_line)
    origins: list[SourceRow] = []
    stored = stored_calls(
        rows_in, _STATE["prices"], _STATE["currency"], _STATE["watermark"], summary, _STATE["limits"], origins
    )
    encoder: CallEncoder = _STATE["encoder"]
    rows = encoder.encode(stored, _STATE["now"])
    totals = batch_totals(rows, encoder.sqlite)
    engine: Engine | None = _STATE["engine"]
    if engine is None:
        return _ChunkResult(summary, rows, totals, origins)
    # Write here instead of shipping the rows back to one writing process (that copy and the one
    # writer were the limit, and held every chunk in flight in one process's memory). Workers take
    # turns on a shared lock: on SQLite its own busy wait polls with sleeps, which left the CPU idle;
    # on every database it keeps one batch's id range its own (see insert_encoded).
    with _STATE["write_turn"]:
        write_batch(engine, rows, totals, _STATE["now"], summary, origins)
    return _ChunkResult(summary, [], None, [])


def chunks(
    binary: IO[bytes], lines_per_chunk: int = CHUNK_LINES, block_size: int = 1 << 20
) -> Iterator[tuple[int, bytes]]:
    """(first line number, whole lines) for about every `lines_per_chunk` lines of a file (one block more
    at most).

    Reads blocks and counts their newlines in C instead of iterating lines in Python: this process
    feeds every worker, so its time per line is the import's floor. A file's UTF-8 BOM is dropped.
    When reading fails midway (a truncated .gz), the whole lines read so far come first, then
    FileReadError with the line where reading stopped. read1: the bytes a failing read had already
    decompressed are kept."""
    read = getattr(binary, "read1", binary.read)
    pending: list[bytes] = []
    lines = 0
    first = 1
    start = True
    while True:
        try:
            block = read(block_size)
        except READ_ERRORS as exc:
            data = b"".join(pending)
            cut = data.rfind(b"\n") + 1
            if cut:
                yield first, data[:cut]
            raise FileReadError(first + data.count(b"\n", 0, cut), read_failure(exc)) from exc
        if not block:
            break
        if start:
            block, start = block.removeprefix(UTF8_BOM), False
        pending.append(block)
        lines += block.count(b"\n")
        if lines >= lines_per_chunk:
            data = b"".join(pending)
            cut = data.rfind(b"\n") + 1
            yield first, data[:cut]
            first += lines
            pending, lines = [data[cut:]], 0
    rest = b"".join(pending)
    if rest:
        yield first, rest


def _worker_url(engine: Engine) -> str | None:
    """The URL worker processes can open themselves: any database but an in-memory SQLite one."""
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return None
    return engine.url.render_as_string(hide_password=False)


def import_jsonl_parallel(
    engine: Engine,
    files: list[tuple[str, IO[bytes]]],
    *,
    now: datetime,
    prices: PriceBook,
    default_currency: str,
    workers: int,
    on_progress: Callable[[], None] | None = None,
    limits: CallLimits | None = None,
    lock_wait: float = DEFAULT_SQLITE_LOCK_WAIT_SECONDS,
) -> ImportSummary:
    """Worker processes parse, price, encode and write chunks of lines, taking turns on the write
    lock (on an in-memory SQLite database this process writes each chunk). The summary is gathered
    in file order either way."""
    database_url = _worker_url(engine)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    read_fd, write_fd = os.pipe()  # this process holds the write end until it ends: the workers' lifeline
    link = ParentLink(os.getpid(), read_fd, write_fd, inherited=method == "fork")
    summary = ImportSummary()
    with engine.connect() as conn:
        watermark = purge_watermark(conn)
        first_id = last_call_id(conn)
    try:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(
                link,
                prices.custom_prices,
                type(engine.dialect),
                database_url,
                lock_wait,
                context.Lock(),
                default_currency,
                watermark,
                now,
                limits or default_limits(engine),
            ),
        ) as pool:
            in_flight: list[Future[_ChunkResult]] = []
            # Workers that write keep one more chunk in flight each, so one parses while another writes.
            window = workers * 2 if database_url else workers
            for name, binary in files:
                try:
                    for first_line, data in chunks(binary):
                        in_flight.append(pool.submit(_parse_chunk, name, first_line, data))
                        if len(in_flight) > window:
                            _absorb(engine, in_flight.pop(0).result(), now, summary)
                            if on_progress:
                                on_progress()
                except FileReadError as exc:
                    summary.reject(Rejection(name, exc.line, exc.reason))
            for future in in_flight:
                _absorb(engine, future.result(), now, summary)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    finish_summary(engine, summary, first_id, now)
    return summary


def _absorb(engine: Engine, result: _ChunkResult, now: datetime, summary: ImportSummary) -> None:
    if result.totals is not None:
        write_batch(engine, result.rows, result.totals, now, result.summary, result.origins)
    summary.add(result.summary)
