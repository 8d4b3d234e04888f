"""Benchmark: per-call ingestion rows/s and peak RSS, beside the limits measured in the same run.

    python benchmarks/ingest_calls.py [--rows 1000000] [--postgres URL]

For each database it reports, on the same generated file:
  * parse only      — read + JSON-decode + validate + price every row in one process, no database;
  * bare insert     — executemany of pre-built tuples into an empty copy of call_record (the database's limit);
  * aispend ingest  — the real import path (`aispend ingest calls`: parser processes that also write their
                      chunks), in a child process to measure its peak RSS;
and the ratio of the ingest rate to the bare-insert rate. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from aispend.connectors.files.call_decoder import iter_call_rows
from aispend.connectors.files.calls import ImportSummary, fewer_gc_passes, stored_calls
from aispend.connectors.files.parallel import chunks, default_workers
from aispend.connectors.files.readers import open_binary
from aispend.core.ledger.calls import CallEncoder, StoredCall
from aispend.core.pricing import PriceBook

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"),
    ("google", "gemini-2.5-flash"),
    ("internal", "acme-ft-7b"),
]


def generate(path: Path, rows: int) -> None:
    rng = random.Random(1)
    start = datetime(2026, 8, 1, tzinfo=UTC)
    with path.open("w") as out:
        for i in range(rows):
            provider, model = rng.choice(MODELS)
            workflow = rng.randrange(50)
            inp = rng.randint(200, 20_000)
            row = {
                "call_id": f"bench-{i}",
                # 1M calls over two weeks: a company making ~70,000 model calls a day.
                "timestamp": (start + timedelta(seconds=i * 1.2)).isoformat(),
                "provider": provider,
                "model": model,
                "input_tokens": inp,
                "output_tokens": rng.randint(10, 2000),
                "cache_read_tokens": inp // 4,
                # A workflow belongs to one team; customers only on a fifth of the workflows.
                "workflow": f"wf-{workflow}",
                "team": f"team-{workflow % 20}",
                "customer": f"cust-{rng.randrange(30)}" if workflow % 5 == 0 else "",
                "run_id": f"run-{i // 6}",
                "step": f"step-{i % 6}",
                "latency_ms": rng.randint(100, 9000),
            }
            if i % 3 == 0:
                row["cost"] = str(round(rng.random() / 50, 8))
            out.write(json.dumps(row) + "\n")


def _calls(path: Path) -> Iterator[list[StoredCall]]:
    """The file's calls, a chunk at a time, as an import worker makes them."""
    prices = PriceBook()
    with open_binary(str(path)) as binary:
        for first_line, data in chunks(binary):
            rows = iter_call_rows(str(path), io.BytesIO(data), "jsonl", first_line)
            yield stored_calls(rows, prices, "USD", None, ImportSummary())


def parse_only(path: Path) -> float:
    """The import's own read + decode + validate + price, in one process, no database."""
    started = time.perf_counter()
    with fewer_gc_passes():
        count = sum(len(calls) for calls in _calls(path))
    return count / (time.perf_counter() - started)


def bare_insert(url: str, path: Path) -> float:
    """Pre-built tuples (the import's own encoding), executemany into an empty table shaped like
    call_record with only its unique key: the database's own limit."""
    now = datetime.now(UTC)
    is_sqlite = url.startswith("sqlite")
    encoder = CallEncoder(type(create_engine(url).dialect))
    tuples = [row for calls in _calls(path) for row in encoder.encode(calls, now)]
    engine = create_engine(url)
    table = f"bare_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        money = "BIGINT" if is_sqlite else "NUMERIC(38,12)"
        conn.execute(
            text(
                f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, call_key VARCHAR(64) UNIQUE, ts TIMESTAMP, "
                "provider VARCHAR(64), model VARCHAR(128), input_tokens BIGINT, output_tokens BIGINT, "
                f"cache_read_tokens BIGINT, cache_write_tokens BIGINT, cost {money}, currency VARCHAR(3), "
                "cost_source VARCHAR(8), zero_cost_flag BOOLEAN, workflow VARCHAR(128), feature VARCHAR(128), "
                'team VARCHAR(128), customer VARCHAR(128), "user" VARCHAR(128), run_id VARCHAR(128), '
                "step VARCHAR(128), outcome VARCHAR(64), latency_ms BIGINT, prompt_prefix_hash VARCHAR(128), "
                "cache_write_1h_tokens BIGINT, service_tier VARCHAR(32), ingested_at TIMESTAMP)"
                if is_sqlite
                else f"CREATE TABLE {table} (id SERIAL PRIMARY KEY, call_key VARCHAR(64) UNIQUE, ts TIMESTAMPTZ, "
                "provider VARCHAR(64), model VARCHAR(128), input_tokens BIGINT, output_tokens BIGINT, "
                f"cache_read_tokens BIGINT, cache_write_tokens BIGINT, cost {money}, currency VARCHAR(3), "
                "cost_source VARCHAR(8), zero_cost_flag BOOLEAN, workflow VARCHAR(128), feature VARCHAR(128), "
                'team VARCHAR(128), customer VARCHAR(128), "user" VARCHAR(128), run_id VARCHAR(128), '
                "step VARCHAR(128), outcome VARCHAR(64), latency_ms BIGINT, prompt_prefix_hash VARCHAR(128), "
                "cache_write_1h_tokens BIGINT, service_tier VARCHAR(32), ingested_at TIMESTAMPTZ)"
            )
        )
    columns = (
        "call_key, ts, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
        'cost, currency, cost_source, zero_cost_flag, workflow, feature, team, customer, "user", run_id, '
        "step, outcome, latency_ms, prompt_prefix_hash, cache_write_1h_tokens, service_tier, ingested_at"
    )
    placeholders = ", ".join(["?" if is_sqlite else "%s"] * 25)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for i in range(0, len(tuples), 5000):
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", tuples[i : i + 5000])
            raw.commit()
    finally:
        raw.close()
    elapsed = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    return len(tuples) / elapsed


CHILD = """
import sys, time, resource
from datetime import UTC, datetime
from aispend.core.pricing import PriceBook
from aispend.core.ledger.db import make_engine, upgrade
from aispend.connectors.files.calls import import_calls
from aispend.connectors.files.parallel import default_workers, import_jsonl_parallel
from aispend.connectors.files.readers import iter_rows, open_binary
url, path, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = make_engine(url); upgrade(engine)
started = time.perf_counter()
if workers:
    with open_binary(path) as handle:
        summary = import_jsonl_parallel(engine, [(path, handle)], now=datetime.now(UTC), prices=PriceBook(),
                                        default_currency="USD", workers=workers)
else:
    summary = import_calls(engine, iter_rows(path, open_binary(path), "jsonl"), now=datetime.now(UTC))
elapsed = time.perf_counter() - started
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would include the benchmark's own memory.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(summary.inserted, elapsed, hwm, children)
"""


def ingest(url: str, path: Path, workers: int) -> tuple[float, float, float]:
    """rows/s, peak RSS of the writing process and of the largest worker (MB)."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(path), str(workers)], check=True, capture_output=True, text=True
    )
    inserted, elapsed, main_kb, worker_kb = out.stdout.split()
    return int(inserted) / float(elapsed), int(main_kb) / 1024, int(worker_kb) / 1024


def fresh(url: str) -> str:
    """An empty ledger for each timed run (a new SQLite file; PostgreSQL tables emptied)."""
    if url.startswith("sqlite"):
        return url.replace("bench.db", f"bench-{uuid.uuid4().hex[:6]}.db")
    with create_engine(url).begin() as conn:
        for table in ("call_record", "call_rollup", "call_rollup_daily", "agent_run"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    return url


def fresh_postgres(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with create_engine(base).begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="PostgreSQL URL (a private schema is created and dropped)")
    parser.add_argument("--serial", action="store_true", help="also time the single-process path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calls.jsonl"
        generate(path, args.rows)
        print(f"rows: {args.rows:,} ({path.stat().st_size / 1e6:.0f} MB JSONL)")
        print(f"parse+normalize+price only: {parse_only(path):,.0f} rows/s")
        targets = [("SQLite", f"sqlite:///{tmp}/bench.db", None)]
        if args.postgres:
            url, schema = fresh_postgres(args.postgres)
            targets.append(("PostgreSQL", url, schema))
        for name, url, schema in targets:
            bare = bare_insert(url, path)
            workers = default_workers()
            rate, rss, worker_rss = ingest(fresh(url), path, workers)
            print(
                f"{name}: bare insert {bare:,.0f} rows/s · aispend ingest ({workers} parser process(es)) "
                f"{rate:,.0f} rows/s (ratio {rate / bare:.2f}) · peak RSS {rss:.0f} MB writer, "
                f"{worker_rss:.0f} MB largest parser"
            )
            if args.serial:
                rate, rss, _ = ingest(fresh(url), path, 0)
                print(f"{name}: serial ingest {rate:,.0f} rows/s (ratio {rate / bare:.2f}) · peak RSS {rss:.0f} MB")
            if schema:
                with create_engine(args.postgres).begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    print(f"benchmark process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
