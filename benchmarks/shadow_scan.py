"""How long `aispend shadow scan` takes on a 100,000-line export (target: under 10 s).

    python benchmarks/shadow_scan.py [LINES]

Builds a Ramp-layout export from the labelled descriptors (varied people, days, amounts, currencies,
refunds and exact duplicates), then times parse + classify + duplicate/refund linking + JSON lines,
the whole of what the command does.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from aispend.connectors.expenses.ingest import scan_files
from aispend.core.shadow.catalog import load_catalog
from aispend.core.shadow.matcher import Matcher
from aispend.core.shadow.quality import read_labelled

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "tests" / "fixtures" / "shadow" / "labelled_descriptors.csv"
HEADER = [
    "Transaction ID",
    "Date",
    "Cardholder",
    "Department",
    "Merchant Name",
    "Merchant Descriptor",
    "Amount",
    "Currency",
    "Memo",
    "Card",
]


def build_export(lines: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    samples = read_labelled(LABELLED)
    people = [f"person{i:04d}@acme.example" for i in range(2_000)]
    teams = ["Engineering", "Sales", "Marketing", "Research", "Finance", "Support", "Design", "Legal"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    start = date(2025, 11, 1)
    for i in range(lines):
        sample = rng.choice(samples)
        person = rng.choice(people)
        amount = sample.amount if rng.random() < 0.7 else sample.amount + rng.randint(1, 500)
        if rng.random() < 0.03:
            amount = -abs(amount)  # refund
        tid = f"{i:08d}" if rng.random() > 0.01 else f"{max(i - 1, 0):08d}"  # ~1% repeated ids
        writer.writerow(
            [
                tid,
                (start + timedelta(days=rng.randrange(365))).isoformat(),
                person,
                teams[int(person[6:10]) % len(teams)],
                sample.merchant,
                sample.descriptor,
                f"{amount:.2f}",
                sample.currency,
                sample.memo,
                f"card {i % 997}",
            ]
        )
    return out.getvalue()


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    text = build_export(lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ramp-export.csv"
        path.write_text(text, encoding="utf-8", newline="")
        matcher = Matcher(load_catalog())
        began, began_cpu = time.perf_counter(), time.process_time()
        rows, errors = scan_files([path], "ramp", {}, matcher, "USD")
        sink = io.StringIO()
        for row in rows:
            sink.write(json.dumps(row) + "\n")
        elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    ai = sum(1 for r in rows if r["is_ai"])
    duplicates = sum(1 for r in rows if r["duplicate_of"])
    # CPU time too: on a shared machine the wall time includes waiting for a core.
    print(
        f"scanned {len(rows):,} lines in {elapsed:.2f} s wall, {cpu:.2f} s CPU "
        f"({len(rows) / elapsed:,.0f} lines/s); "
        f"{ai:,} AI, {duplicates:,} duplicates, {len(errors)} errors; target < 10 s"
    )


if __name__ == "__main__":
    main()
