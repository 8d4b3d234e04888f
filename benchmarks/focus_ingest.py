"""FOCUS ingestion throughput and peak memory (not part of the test suite).

Generates a FOCUS 1.0 CSV of N rows from the bundled sample (each copy shifted to its own charge
hour, so every row is a distinct charge), then imports it with `aispend ingest focus`'s service into a
fresh SQLite database (and PostgreSQL when AISPEND_TEST_DATABASE_URL is set), in a child process per
run so peak RSS is that of one import. Run the sizes side by side to see that memory stays flat:

    python benchmarks/focus_ingest.py 100000 400000
"""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "focus" / "focus-1.0-sample.csv"
FORMAT = "%Y-%m-%d %H:%M:%S"


def generate(path: Path, rows: int) -> None:
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        sample = list(reader)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=header, quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        for index in range(rows):
            row = dict(sample[index % len(sample)])
            shift = timedelta(hours=index // len(sample))
            for column in ("ChargePeriodStart", "ChargePeriodEnd"):
                row[column] = (datetime.strptime(row[column], FORMAT) + shift).strftime(FORMAT)
            writer.writerow(row)


def child(url: str, path: str) -> None:
    from aispend.connectors.files.focus import FocusNormalizer, ingest_focus_files
    from aispend.core.ledger.db import make_engine, upgrade
    from aispend.core.rules.attribution import AttributionRules

    engine = make_engine(url)
    upgrade(engine)
    normalizer = FocusNormalizer.create(AttributionRules(), ["Amazon Bedrock"], engine.dialect.name)
    started = time.perf_counter()
    summary = ingest_focus_files(
        engine, [Path(path)], normalizer, now=datetime.now(UTC), on_reject=lambda r: print(r, file=sys.stderr)
    )
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime  # less sensitive than wall time to a shared, busy machine
    peak_mb = usage.ru_maxrss / 1024
    print(f"{summary.rows_read}\t{summary.written.inserted}\t{elapsed:.2f}\t{cpu:.2f}\t{peak_mb:.0f}")


def run(url: str, label: str, path: Path) -> None:
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, str(path)], capture_output=True, text=True, check=True
    )
    rows, inserted, elapsed, cpu, peak = done.stdout.split()
    rate = int(rows) / float(elapsed)
    print(
        f"{label:<10} {int(rows):>9,} rows  {inserted:>9} inserted  {float(elapsed):7.1f} s wall "
        f"({rate:7,.0f} rows/s)  {float(cpu):7.1f} s CPU ({int(rows) / float(cpu):7,.0f} rows/CPU-s)  "
        f"peak RSS {peak} MB"
    )


def main(sizes: list[int]) -> None:
    pg_url = os.environ.get("AISPEND_TEST_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"focus-{size}.csv"
            generate(path, size)
            print(f"-- {size:,} rows, {path.stat().st_size / 1e6:.0f} MB of CSV")
            run(f"sqlite:///{tmp}/bench-{size}.db", "sqlite", path)
            if pg_url:
                schema = f"focus_bench_{size}"
                _pg(pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
                try:
                    run(f"{pg_url}?options=-csearch_path%3D{schema}", "postgresql", path)
                finally:
                    _pg(pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _pg(url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        for part in statement.split(";"):
            conn.execute(text(part))
    engine.dispose()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    else:
        main([int(arg) for arg in sys.argv[1:]] or [100_000])
