"""Streaming input (issue 15 item 6): `ingest calls -` and `--follow` commit as they read, every N rows
or T seconds, and each commit logs itself in the live ingest log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from aispend.connectors.files.call_decoder import iter_call_rows
from aispend.connectors.files.call_schema import CallLimits
from aispend.connectors.files.calls import stream_calls
from aispend.connectors.files.streaming import Batcher, follow_segments, timed_batches
from aispend.core.ledger.ingest_log import live_sources
from aispend.core.ledger.models import CallRecord, IngestBatch, table_of

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CALLS = table_of(CallRecord)


def line(n: int, cost: str = "0.5") -> str:
    return (
        json.dumps(
            {
                "call_id": f"c{n}",
                "timestamp": "2026-11-20T10:00:00Z",
                "provider": "openai",
                "model": "gpt-4o",
                "cost": cost,
                "workflow": "big",
            }
        )
        + "\n"
    )


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(CALLS)).scalar_one())


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """A bounded wait on a real event (rows in the database), not a sleep for time to pass."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_batch_closes_at_its_size_or_its_age_on_the_injected_clock() -> None:
    clock = FakeClock()
    batcher: Batcher[int] = Batcher(3, 2.0, clock)
    assert batcher.add(1) is None and batcher.add(2) is None
    assert batcher.add(3) == [1, 2, 3]  # by size
    assert batcher.add(4) is None and batcher.wait_seconds() == 2.0
    clock.t = 1.5
    assert not batcher.due() and batcher.wait_seconds() == 0.5
    clock.t = 2.0
    assert batcher.due() and batcher.take() == [4]  # by age, no further item needed
    assert batcher.wait_seconds() is None


def test_timed_batches_close_a_batch_while_the_input_is_silent() -> None:
    release = threading.Event()
    readings = iter(range(0, 1000, 3))  # each look at the clock finds it 3 s later

    def items() -> Iterator[int]:
        yield 1
        release.wait(10)  # the input goes silent until the test has seen the first batch
        yield 2

    batches = timed_batches(items(), rows=100, seconds=5.0, monotonic=lambda: float(next(readings)))
    assert next(batches) == [1]  # closed by its age (5 s on that clock), item 2 not yet read
    release.set()
    assert list(batches) == [[2]]


def test_stop_yields_what_was_read_and_ends() -> None:
    stop = threading.Event()
    got: list[list[int]] = []

    def items() -> Iterator[int]:
        yield from (1, 2)
        stop.set()
        threading.Event().wait(10)  # a reader that never ends by itself (stdin, a followed file)
        yield 3

    for batch in timed_batches(items(), rows=100, seconds=3600, stop=stop):
        got.append(batch)
    assert got == [[1, 2]]


def _env(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "AISPEND_DATABASE_URL": database_url, "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **extra}


def test_a_pipe_lands_rows_before_the_input_ends_then_sigterm_commits_and_summarises(
    engine: Engine, database_url: str
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aispend.cli.main", "ingest", "calls", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(database_url, AISPEND_INGEST_COMMIT_ROWS="1000", AISPEND_INGEST_COMMIT_SECONDS="0.2"),
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write(line(1).encode() + line(2).encode())
        proc.stdin.flush()
        wait_until(lambda: stored(engine) == 2)  # committed by age while the pipe stays open
        proc.stdin.write(line(3).encode())
        proc.stdin.flush()
        wait_until(lambda: stored(engine) == 3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Read 3 rows from 1 file(s): 3 new" in out.decode()
    assert "Traceback" not in err.decode()
    with engine.connect() as conn:
        [src] = live_sources(conn, datetime.now(UTC))
        batches = conn.execute(select(func.count()).select_from(table_of(IngestBatch))).scalar_one()
    assert (src.source, src.token_name, src.accepted_last_hour, src.refused_last_hour) == ("stdin", "", 3, 0)
    assert batches >= 2


def test_stream_calls_commits_every_n_rows_and_logs_refusals(engine: Engine) -> None:
    rows = [line(n) for n in range(5)] + ['{"call_id": "bad", "timestamp": "x"}\n']
    seen: list[int] = []
    summary = stream_calls(
        engine,
        iter_call_rows("-", iter(r.encode() for r in rows), "jsonl"),  # type: ignore[arg-type]
        clock=lambda: NOW,
        source="stdin",
        limits_at=lambda now: CallLimits.at(now, CallLimits().max_cost, engine.dialect.name),
        commit_rows=2,
        commit_seconds=3600,
        on_batch=lambda s: seen.append(stored(engine)),
    )
    assert seen == [2, 4, 5]  # every 2 rows, committed before the next batch is read
    assert (summary.inserted, summary.rejected_count) == (5, 1)
    with engine.connect() as conn:
        [src] = live_sources(conn, NOW)
    assert (src.batches_last_hour, src.accepted_last_hour, src.refused_last_hour) == (3, 5, 1)


def _append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def test_follow_reads_appends_then_a_rotated_and_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    path.write_text(line(1) + line(2)[:12])
    stop = threading.Event()
    steps: list[Callable[[], None]] = [
        lambda: _append(path, line(2)[12:]),  # the writer completes its line
        lambda: (path.rename(tmp_path / "app.jsonl.1"), path.write_text(line(3))),  # rotated
        lambda: path.write_text(line(4)[:5]),  # truncated (shorter than what was read)
        lambda: path.write_text(line(4)),
        stop.set,
    ]

    def wait(_seconds: float) -> None:  # each look that finds nothing new moves the file on one step
        if steps:
            steps.pop(0)()

    got = [
        (seg, raw)
        for seg, segment in enumerate(follow_segments(str(path), poll_seconds=1, stop=stop, wait=wait))
        for raw in segment
    ]
    ids = [(seg, json.loads(raw)["call_id"]) for seg, raw in got]
    assert ids == [(0, "c1"), (0, "c2"), (1, "c3"), (2, "c4")]  # line numbers restart per segment
